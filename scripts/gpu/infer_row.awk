# infer_row.awk: one `sparse24 infer` report read back into a CSV row of
# run_infer_accuracy.sh (model,epochs1,epochs2,dtype,path,images,acc_plan,
# acc_dense_plan,acc_eval,agree_plan,agree_dense_plan,plan_ms,dense_ms,batch);
# the variables m, e1, e2, dt, p and b come from the caller (-v). The field
# numbers follow the lines tools/sparse24/cmd_infer.c prints.
/test images of/ { for (i = 1; i < NF; i++) if ($(i + 1) == "test") n = $i }
/^test accuracy:/ { gsub(/%,?/, ""); a = $5; d = $8; ev = $13 }
/^predictions as/ { gsub(/[(),%]/, ""); ap = $12; dp = $16 }
/median of/ { for (i = 2; i <= NF; i++) if ($i == "ms") t[++k] = $(i - 1) }
END {
  printf "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", m, e1, e2, dt, p, n, a, d, ev, ap, dp,
         t[1], t[2], b
}
