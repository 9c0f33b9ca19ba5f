#!/bin/bash
# From the repository root, with span-property.patch applied and ./mvnw -DskipTests install run; the second set
# (second/) ran SHAPES=3072x1024,5632x1024,1024x2816,32000x1024,2560x2560 ORDER="2 5 8 2 5 8" into second/.
export JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64 PATH=/usr/lib/jvm/temurin-25-jdk-amd64/bin:$PATH
SH=${SHAPES:-1024x1024,3072x1024,5632x1024,1024x2816,32000x1024}
i=0
for v in ${ORDER:-2 5 3 2 5 3}; do
  i=$((i+1))
  java --add-modules jdk.incubator.vector -Xmx6g -Dmmfree.experiment.span=$v -cp 'bench/target/mmfree-bench-0.1.0-SNAPSHOT.jar:bench/target/lib/*' dev.mmfree.bench.jmh.PairedTriad $(dirname "$0")/first/run$i-span$v.md ${ROUNDS:-8} ternary $SH > /dev/null 2>&1
done
echo done
