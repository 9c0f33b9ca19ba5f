#!/bin/bash
# 1.3B's shapes (rows of 2048: spans of three instead of two): base = b9257b0's jars, new = this commit's
export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64 PATH=/usr/lib/jvm/temurin-25-jdk-amd64/bin:$PATH
O=${O:-$(dirname "$0")}
i=0
for v in base new base new; do
  i=$((i+1))
  java --add-modules jdk.incubator.vector -Xmx6g -Dmmfree.commit=$v -cp "/tmp/$v-jars/mmfree-bench-0.1.0-SNAPSHOT.jar:/tmp/$v-jars/lib/*" \
    dev.mmfree.bench.jmh.PairedTriad $O/paired-$i-$v.md 8 ternary 2048x2048,6144x2048,11264x2048,32000x2048 > /dev/null 2>&1
done
echo done
