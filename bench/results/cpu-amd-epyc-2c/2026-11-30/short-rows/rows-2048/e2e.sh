#!/bin/bash
# 1.3B batch-1 decode on the CPU: base = b9257b0's jars, new = this commit's, alternating
export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64 PATH=/usr/lib/jvm/temurin-25-jdk-amd64/bin:$PATH
O=${O:-$(dirname "$0")}
i=0
for v in base new base new; do
  i=$((i+1))
  java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Dmmfree.home=/work/main -Xmx12g -cp "/tmp/$v-jars/mmfree-bench-0.1.0-SNAPSHOT.jar:/tmp/$v-jars/lib/*" dev.mmfree.model.cli.MmfreeCli \
    bench --backend cpu --preset 1.3B --models hgrn --batch 1 --context 32 --decode-steps 256 --warmup-steps 32 --prefill-repeats 1 \
    --out $O/bench-1.3B-$i-$v > $O/bench-1.3B-$i-$v.log 2>&1
done
echo done
