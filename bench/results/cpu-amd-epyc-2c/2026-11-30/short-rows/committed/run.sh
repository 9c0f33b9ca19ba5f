#!/bin/bash
# 370M batch-1 decode on the CPU, the committed rule (STREAM_WORDS 570, floor) against b9257b0's jars, alternating
export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64 PATH=/usr/lib/jvm/temurin-25-jdk-amd64/bin:$PATH
O=${O:-$(dirname "$0")}
i=0
for v in final base final base; do
  i=$((i+1))
  java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Dmmfree.home=/work/main -Xmx8g -cp "/tmp/$v-jars/mmfree-bench-0.1.0-SNAPSHOT.jar:/tmp/$v-jars/lib/*" dev.mmfree.model.cli.MmfreeCli \
    bench --backend cpu --preset 370M --models hgrn --batch 1 --context 32 --decode-steps 512 --warmup-steps 64 --prefill-repeats 1 \
    --out $O/bench-$i-$v > $O/bench-$i-$v.log 2>&1
done
echo done
