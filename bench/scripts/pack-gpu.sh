#!/usr/bin/env bash
# Packs what bench/scripts/gpu-suite.sh needs into .gpu/ (ignored by git): a JDK 25 runtime and the
# project's jars (via ../shared/gpu/pack-for-device), the fixtures, and the commit id.
set -euo pipefail
cd "$(dirname "$0")/../.."
export JAVA_HOME=${JAVA_HOME_25:-/usr/lib/jvm/temurin-25-jdk-amd64}
./mvnw -q -B -o -DskipTests package   # test classes are compiled too
# Left out to fit the device tool's 64 MiB: the tokenizer (18 MiB of natives), JMH, and XChart with its
# PDF/SVG stack (it would pull java.desktop into the runtime); `mmfree bench` then skips its plots, and
# `mmfree bench --replot DIR` draws them here from the copied results.csv.
jars=$(ls bench/target/*.jar bench/target/lib/*.jar \
    | grep -vE '/(tokenizers|api|jna|gson|jmh-core|jopt-simple|commons-compress|commons-io|commons-codec|xchart|pdfbox|pdfbox-io|fontbox|graphics2d|VectorGraphics2D|animated-gif-lib|commons-logging)-[0-9]')
# Module analysis (jdeps) only on jars whose module needs are plain: progressbar's module-info names
# jline's automatic module, which jdeps cannot resolve, and Jackson and picocli would add java.sql and
# java.compiler, and commons-math3 java.desktop, for code paths this run never takes. They are added after the runtime is linked.
late='/(progressbar|jline-terminal|jline-native|jackson-core|jackson-databind|jackson-annotations|picocli|slf4j-api|error_prone_annotations|commons-math3)-[0-9]'
rm -f .gpu/jre.tar.gz   # the last pack's runtime archive (below), which pack-for-device would count against the 64 MiB
EXTRA_MODULES=jdk.zipfs ../shared/gpu/pack-for-device $(echo "$jars" | grep -vE "$late")
cp $(echo "$jars" | grep -E "$late") .gpu/lib/
# libjvm.so's symbol table (5 MB) stays here, for the 64 MiB: only a crash report's native frames would miss its names
strip --strip-unneeded .gpu/jre/lib/server/libjvm.so
# GPU_FIXTURES: the fixture folders to take (default all; "none" for none), where the upload would not fit them
rm -rf .gpu/fixtures && mkdir -p .gpu/fixtures
for f in ${GPU_FIXTURES:-$(ls ../shared/fixtures)}; do
    [ "$f" = none ] || cp -r "../shared/fixtures/$f" .gpu/fixtures/
done
# the OpenCL tests run there too (gpu-suite.sh step "tests"), through JUnit's console launcher
junit=org.junit.platform:junit-platform-console-standalone:1.11.4
./mvnw -q -B dependency:get -Dartifact=$junit >/dev/null
rm -rf .gpu/tests && mkdir -p .gpu/tests
cp ~/.m2/repository/org/junit/platform/junit-platform-console-standalone/1.11.4/*.jar .gpu/tests/
for m in runtime kernels model; do cp -r $m/target/test-classes .gpu/tests/$m; done
git describe --always --dirty > .gpu/commit   # "-dirty": built with uncommitted changes
# BASE_COMMIT=<rev>: that commit's kernels and model jars go to .gpu/base/, for A/B runs against this build
# (gpu-suite.sh steps decodeab and batch1runs put it first on the class path)
rm -rf .gpu/base
if [ -n "${BASE_COMMIT:-}" ]; then
    wt=$(mktemp -d)
    git worktree add -q --detach "$wt" "$BASE_COMMIT"
    (cd "$wt" && ./mvnw -q -B -o -pl model -am -DskipTests package)
    mkdir -p .gpu/base && cp "$wt"/kernels/target/mmfree-kernels-*.jar "$wt"/model/target/mmfree-model-*.jar .gpu/base/
    git rev-parse --short "$BASE_COMMIT" > .gpu/base/commit
    git worktree remove --force "$wt"
fi
# the runtime travels as a gzip archive (40 MiB on disk, 22 packed), which gpu-suite.sh unpacks there before
# it sources .gpu/env.sh; a command that does not go through gpu-suite.sh starts with: tar -C .gpu -xzf .gpu/jre.tar.gz
tar -C .gpu -czf .gpu/jre.tar.gz jre && rm -rf .gpu/jre
# the device tool carries the working tree (tracked and untracked files that git does not ignore) plus
# .gpu, 64 MiB in all, counted as the disk blocks the files take (each small record file costs 4 KiB):
# say how close this upload comes
tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 -r du -B1 2>/dev/null | awk '{s += $1} END {print s + 0}')
gpu=$(du -s -B1 .gpu | cut -f1)
echo "upload: .gpu $((gpu >> 20)) MiB + working tree $((tree >> 20)) MiB = $(((gpu + tree) >> 20)) MiB of 64"
if [ $((gpu + tree)) -gt $((64 << 20)) ]; then
    echo "pack-gpu: over the device tool's 64 MiB; leave out what the run does not need (e.g. GPU_FIXTURES=none, or fewer fixtures)" >&2
    exit 1
fi
