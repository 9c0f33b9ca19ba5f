#!/usr/bin/env bash
J=/usr/lib/jvm/temurin-25-jdk-amd64/bin/java
i=0
for v in B E2 E1 B E1 E2 B E2 E1; do
  i=$((i+1))
  case $v in B) p="";; E2) p="-Dmmfree.cpu.spansPerThread=2";; E1) p="-Dmmfree.cpu.spansPerThread=1";; esac
  echo "run $i $v $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)" >> runs.log
  $J --add-modules jdk.incubator.vector -Xmx6g $p -cp 'mmfree-bench-0.1.0-SNAPSHOT.jar:lib/*' dev.mmfree.bench.jmh.PairedTriad run$i-$v.md 12 ternary > run$i-$v.log 2>&1
done
echo done >> runs.log
