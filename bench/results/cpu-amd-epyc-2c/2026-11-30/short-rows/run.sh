#!/bin/bash
# A/B of the span rule: base = commit b9257b0's jars (spans of two), new = the working tree's (spans by STREAM_WORDS)
export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64 PATH=/usr/lib/jvm/temurin-25-jdk-amd64/bin:$PATH
O=${O:-$(dirname "$0")/final}
i=0
for v in base new base new; do
  i=$((i+1))
  java --add-modules jdk.incubator.vector -Xmx6g -Dmmfree.commit=$v -cp "/tmp/$v-jars/mmfree-bench-0.1.0-SNAPSHOT.jar:/tmp/$v-jars/lib/*" \
    dev.mmfree.bench.jmh.PairedTriad $O/paired-$i-$v.md 8 ternary 1024x1024,3072x1024,5632x1024,32000x1024,2560x2560,32000x2560 > /dev/null 2>&1
done
i=0
for v in base new base new; do
  i=$((i+1))
  java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Dmmfree.home=/work/main -Xmx8g -cp "/tmp/$v-jars/mmfree-bench-0.1.0-SNAPSHOT.jar:/tmp/$v-jars/lib/*" dev.mmfree.model.cli.MmfreeCli \
    bench --backend cpu --preset 370M --models hgrn --batch 1 --context 32 --decode-steps 512 --warmup-steps 64 --prefill-repeats 1 \
    --out $O/bench-$i-$v > $O/bench-$i-$v.log 2>&1
done
echo done
