#!/usr/bin/env bash
# The measurements recorded under bench/results/nvidia-h200/: run on the GPU machine from the project
# root, after packing the jars and fixtures into .gpu/ (see bench/scripts/pack-gpu.sh):
#
#   bash bench/scripts/gpu-suite.sh OUT_DIR [STEP...]
#   steps: tests verify kernels kernelruns decodeab batch1runs gemvsweep gemvtrace buildlog tilings mma dense densegemv attention densetrace bench370 bench13 bench27 hgrn27 enqueue launchperiod
#          mma27 bwords ahead ahead27 nt8 rowtile27 profile27 profile1 persist27 stream27 info sweep
#
# Every step writes its full log to OUT_DIR/<step>.log; a step that fails does not stop the others.
set -uo pipefail
out=${1:?usage: gpu-suite.sh OUT_DIR [STEP...]}; shift
steps=${*:-verify kernels bench370 bench27}
mkdir -p "$out"
[ -d .gpu/jre ] || tar -C .gpu -xzf .gpu/jre.tar.gz   # pack-gpu.sh sends the runtime packed
source .gpu/env.sh
export MMFREE_OPENCL_DEVICE=${MMFREE_OPENCL_DEVICE:-nvidia} MMFREE_HOME=$PWD MMFREE_COMMIT=$(cat .gpu/commit 2>/dev/null || echo unknown)
java_cmd=(java -Xmx96g -XX:+UseParallelGC -cp '.gpu/lib/*')
cli=("${java_cmd[@]}" dev.mmfree.model.cli.MmfreeCli)
# .gpu/base/: the kernels and model jars of an earlier commit (pack-gpu.sh with BASE_COMMIT), first on the class path
base_cmd=(java -Xmx96g -XX:+UseParallelGC -cp '.gpu/base/*:.gpu/lib/*')
base_cli=("${base_cmd[@]}" dev.mmfree.model.cli.MmfreeCli)

run() {  # run NAME TIMEOUT_S CMD...
    local name=$1 limit=$2; shift 2
    echo "=== $name: $(date -u +%H:%M:%S) $*" | tee -a "$out/$name.log"
    local t0=$SECONDS
    timeout "$limit" "$@" >>"$out/$name.log" 2>&1
    echo "=== $name: exit $? after $((SECONDS - t0)) s" | tee -a "$out/$name.log"
}

ahead_e2e() {  # ahead_e2e LOG: 2.7B batched decode with -DMMA_AHEAD=1 and 2 (AHEAD_ORDER="2 1" swaps the order)
    for a in ${AHEAD_ORDER:-1 2}; do
        MMFREE_OPENCL_BUILD_OPTIONS=-DMMA_AHEAD=$a run "$1" 300 "${cli[@]}" bench --backend opencl --preset 2.7B \
            --models hgrn --batch 64 --context 128 --decode-steps 100 --out "$out/ahead$a-2.7B"
    done
}

{ nvidia-smi --query-gpu=name,driver_version,memory.total,power.limit,clocks.max.sm,clocks.applications.graphics --format=csv; java -version 2>&1 | head -1; } > "$out/machine.txt" 2>&1
# GPU_CLOCKS=MS: samples the SM and memory clocks, power and performance state every MS milliseconds into
# OUT_DIR/clocks.csv while the steps run (what a latency-bound batch-1 step depends on)
if [ -n "${GPU_CLOCKS:-}" ]; then
    nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,pstate,temperature.gpu --format=csv,noheader \
        -lms "$GPU_CLOCKS" >> "$out/clocks.csv" 2>&1 &
    clocks_pid=$!
    trap 'kill $clocks_pid 2>/dev/null' EXIT
fi
for step in $steps; do
    case $step in
        tests)
            # TEST_CLASSES (class names, space-separated) runs only those
            for c in ${TEST_CLASSES:-$(cd .gpu/tests/runtime && ls dev/mmfree/runtime/opencl/*Test.class) \
                     $(cd .gpu/tests/kernels && ls dev/mmfree/kernels/*/*OpenClTest.class) \
                     $(cd .gpu/tests/model && ls dev/mmfree/model/*/*OpenCl*Test.class dev/mmfree/model/generate/GeneratorFixtureTest.class)}; do
                c=${c%.class}; c=${c//\//.}
                # one JVM a class: a kernel that faults would poison the context for the rest
                run tests 180 java -Dmmfree.fixtures=.gpu/fixtures -cp ".gpu/tests/junit-platform-console-standalone-1.11.4.jar:.gpu/lib/*:.gpu/tests/runtime:.gpu/tests/kernels:.gpu/tests/model" \
                    org.junit.platform.console.ConsoleLauncher execute --select-class "$c" --details=summary --disable-banner --disable-ansi-colors
            done ;;
        verify)
            for f in hgrn-tiny-a hgrn-tiny-a-bf16 llama-tiny; do
                run verify 120 "${cli[@]}" verify --model .gpu/fixtures/$f --backend opencl
            done ;;
        kernels)    # KERNEL_ARGS: more bench arguments, e.g. "--cold-mib 700 --iters 64" (rotate over 33 layers, as 2.7B has 32)
            run kernels 240 "${java_cmd[@]}" dev.mmfree.kernels.bitlinear.BitLinearOpenClBench --device nvidia --iters 50 ${KERNEL_ARGS:-} ;;
        gemvsweep)  # the plain GEMV at each tiling (GEMV_SWEEP) and layout (GEMV_BLOCKS: 0 chunk-major, B blocked by B rows),
                    # cold, round robin with a copy and a read of the same bytes (SWEEP_ITERS rounds; SWEEP_BURST launches
                    # back to back a turn, default 1; GEMV_GROUPS: schedules, -1 the device's, 0 a work-group a block, G at most G)
            run gemvsweep 400 "${java_cmd[@]}" dev.mmfree.kernels.bitlinear.BitLinearOpenClBench --device nvidia \
                --iters "${SWEEP_ITERS:-100}" --cold-mib "${SWEEP_COLD_MIB:-160}" --sweep-burst "${SWEEP_BURST:-1}" \
                --gemv-sweep "${GEMV_SWEEP:-32x8x8,16x16x8,64x4x8,32x16x8,64x8x8}" --gemv-blocks "${GEMV_BLOCKS:-0,32,64}" \
                --gemv-groups "${GEMV_GROUPS:--1}" ;;
        gemvtrace)  # the plain GEMV built with clock marks (GemvTrace) in turn with a traced read of the same bytes, cold:
                    # when work-groups enter and end, their phases, how many an SM holds (GEMV_SWEEP's first tiling,
                    # GEMV_BLOCKS layouts, GEMV_GROUPS schedules)
            run gemvtrace 400 "${java_cmd[@]}" dev.mmfree.kernels.bitlinear.BitLinearOpenClBench --device nvidia \
                --iters "${SWEEP_ITERS:-50}" --cold-mib "${SWEEP_COLD_MIB:-160}" --gemv-trace \
                --gemv-sweep "${GEMV_SWEEP:-32x8x8}" --gemv-blocks "${GEMV_BLOCKS:-32}" --gemv-groups "${GEMV_GROUPS:--1}" ;;
        kernelruns) # the kernel bench under env settings: KERNEL_RUNS lists them (VAR=VALUE, several joined by
                    # commas; "-" for none), one run each, in order
            for e in ${KERNEL_RUNS:--}; do
                run kernelruns 240 env $([ "$e" = - ] || echo "${e//,/ }") "${java_cmd[@]}" dev.mmfree.kernels.bitlinear.BitLinearOpenClBench \
                    --device nvidia --iters 50
            done ;;
        decodeab)   # the kernel bench with the kernels jar of .gpu/base (BASE_COMMIT), then with this build's
            echo "base: $(cat .gpu/base/commit)" >> "$out/decodeab.log"
            run decodeab 240 "${base_cmd[@]}" dev.mmfree.kernels.bitlinear.BitLinearOpenClBench --device nvidia --iters 50
            run decodeab 240 "${java_cmd[@]}" dev.mmfree.kernels.bitlinear.BitLinearOpenClBench --device nvidia --iters 50 ;;
        batch1runs) # decode at batch 1 (or B1_BATCH; B1_MODELS, default hgrn; llama for Transformer++) at B1_PRESET (default 2.7B)
                    # and context B1_CONTEXT (default 128), B1_STEPS steps (default 100) after B1_WARMUP untimed ones (default 8,
                    # the bench's), B1_PREFILLS timed prefills (default 1): BATCH1_RUNS lists the runs in order,
                    # each "base" (the jars of .gpu/base), "-" (this build) or env settings for this build (VAR=VALUE,...)
            i=0
            p=${B1_PRESET:-2.7B}
            tag=$p-b${B1_BATCH:-1}-c${B1_CONTEXT:-128}-w${B1_WARMUP:-8}   # so that runs of other batches, contexts or warm-ups in one OUT keep their folders
            b1=(bench --backend opencl --preset "$p" --models "${B1_MODELS:-hgrn}" --batch "${B1_BATCH:-1}" --context "${B1_CONTEXT:-128}"
                --decode-steps "${B1_STEPS:-100}" --warmup-steps "${B1_WARMUP:-8}" --prefill-repeats "${B1_PREFILLS:-1}")
            for e in ${BATCH1_RUNS:-base - base -}; do
                i=$((i + 1))
                if [ "$e" = base ]; then
                    run batch1runs 300 "${base_cli[@]}" "${b1[@]}" --out "$out/b1-$i-base-$tag"
                else
                    run batch1runs 300 env $([ "$e" = - ] || echo "${e//,/ }") "${cli[@]}" "${b1[@]}" --out "$out/b1-$i-$tag"
                fi
            done ;;
        buildlog)   # NVIDIA's register use and spills of every program the kernel bench builds
            MMFREE_OPENCL_BUILD_OPTIONS=-cl-nv-verbose MMFREE_OPENCL_BUILD_LOG=1 MMFREE_CACHE=$out/cl-cache \
                run buildlog 240 "${java_cmd[@]}" dev.mmfree.kernels.bitlinear.BitLinearOpenClBench --device nvidia --iters 5 ;;
        tilings)
            for t in "64x4x8 32x8x8" "64x4x8 16x16x8" "32x8x8 32x8x8" "64x8x8 32x4x8" "64x4x8 64x4x8"; do
                set -- $t
                run tilings 120 "${java_cmd[@]}" dev.mmfree.kernels.bitlinear.BitLinearOpenClBench --device nvidia --iters 30 \
                    --decode-tiling "$1" --narrow-tiling "$2"
            done ;;
        mma)        # the tensor-core GEMM: its test class, then its work-group shapes against the dp4a GEMM
            run mma 180 java -cp ".gpu/tests/junit-platform-console-standalone-1.11.4.jar:.gpu/lib/*:.gpu/tests/runtime:.gpu/tests/kernels" \
                org.junit.platform.console.ConsoleLauncher execute --select-class dev.mmfree.kernels.bitlinear.BitLinearOpenClTest \
                --details=summary --disable-banner --disable-ansi-colors
            run mma 240 "${java_cmd[@]}" dev.mmfree.kernels.bitlinear.BitLinearOpenClBench --device nvidia --iters 30 --gemm-only \
                --mma ${MMA_SHAPES:-2x2x2,2x2x2x2,2x2x2x4,1x2x4x2,1x2x4x4,2x2x4x2,1x4x4x2,4x1x2x2,1x2x2x4} \
                --row-tilings ${ROW_TILINGS:-32x8x8,16x8x8,32x16x8,64x16x8} ;;
        mma27)      # 2.7B batched decode with the dp4a GEMM (MMFREE_OPENCL_MMA=0), then the tensor-core one
            MMFREE_OPENCL_MMA=0 run mma27 300 "${cli[@]}" bench --backend opencl --preset 2.7B --models hgrn --batch 64 \
                --context 128 --decode-steps 100 --out "$out/dp4a-2.7B"
            run mma27 300 "${cli[@]}" bench --backend opencl --preset 2.7B --models hgrn --batch 64 --context 128 \
                --decode-steps 100 --out "$out/mma-2.7B" ;;
        bwords)     # the mma GEMM with its activations loaded 1, 2 or 4 words at a time (-DMMA_B_WORDS), then
                    # 2.7B batched decode with 1 and with the default; build logs show registers and spills
            for w in 1 2 4; do
                MMFREE_OPENCL_BUILD_OPTIONS="-DMMA_B_WORDS=$w -cl-nv-verbose" MMFREE_OPENCL_BUILD_LOG=1 MMFREE_CACHE=$out/cl-cache-$w \
                    run bwords 240 "${java_cmd[@]}" dev.mmfree.kernels.bitlinear.BitLinearOpenClBench --device nvidia --iters 30 \
                    --gemm-only --mma ${MMA_SHAPES:-1x4x4x2,1x2x2x4,2x2x4x2,1x2x4x2,1x4x4x4,1x2x2x2} --row-tilings 32x8x8
            done
            MMFREE_OPENCL_BUILD_OPTIONS=-DMMA_B_WORDS=1 run bwords 300 "${cli[@]}" bench --backend opencl --preset 2.7B \
                --models hgrn --batch 64 --context 128 --decode-steps 100 --out "$out/bwords1-2.7B"
            run bwords 300 "${cli[@]}" bench --backend opencl --preset 2.7B --models hgrn --batch 64 --context 128 \
                --decode-steps 100 --out "$out/bwords4-2.7B" ;;
        ahead)      # the mma GEMM with its weight words loaded 1 or 2 steps ahead (-DMMA_AHEAD), the GEMMs, then
                    # 2.7B batched decode with each (as ahead27); build logs show registers and spills
            for a in 1 2; do
                MMFREE_OPENCL_BUILD_OPTIONS="-DMMA_AHEAD=$a -cl-nv-verbose" MMFREE_OPENCL_BUILD_LOG=1 MMFREE_CACHE=$out/cl-cache-$a \
                    run ahead 240 "${java_cmd[@]}" dev.mmfree.kernels.bitlinear.BitLinearOpenClBench --device nvidia --iters 30 \
                    --gemm-only --mma ${MMA_SHAPES:-1x4x4x2,1x2x2x4,1x2x2x2,2x2x4x2,1x4x4x4} --row-tilings 32x8x8
            done
            ahead_e2e ahead ;;
        ahead27)    # only the end-to-end half of "ahead"
            ahead_e2e ahead27 ;;
        nt8)        # one token group of 64 a warp (nTiles 8: each weight word read once at batch 64) against the
                    # defaults: the GEMMs, then 2.7B batched decode with the defaults and two nTiles-8 choices
            run nt8 240 "${java_cmd[@]}" dev.mmfree.kernels.bitlinear.BitLinearOpenClBench --device nvidia --iters 30 \
                --gemm-only --mma ${MMA_SHAPES:-1x4x4x2,1x2x2x4,1x2x8x2,1x2x8x4,2x1x8x2,1x1x8x4,1x1x8x2} --row-tilings 32x8x8
            for m in default 1x2x8x2,1x2x2x4 1x2x8x2,1x1x8x4; do
                MMFREE_OPENCL_MMA=$([ $m = default ] || echo $m) run nt8 300 "${cli[@]}" bench --backend opencl --preset 2.7B \
                    --models hgrn --batch 64 --context 128 --decode-steps 100 --out "$out/nt8-$m-2.7B"
            done ;;
        rowtile27)  # 2.7B batched decode under work-group shapes of the row kernels: ROWTILE_RUNS lists
                    # env settings (VAR=VALUE, several joined by commas; "-" for none), one run each, in order
            i=0
            for e in ${ROWTILE_RUNS:--}; do
                i=$((i + 1))
                run rowtile27 300 env $([ "$e" = - ] || echo "${e//,/ }") "${cli[@]}" bench --backend opencl --preset 2.7B \
                    --models hgrn --batch 64 --context 128 --decode-steps 100 --out "$out/rowtile-$i-2.7B"
            done ;;
        stream27)   # 2.7B decode at batch 1 and 64 with the next step queued ahead (default) and step by step
                    # (--sync-decode), alternating; STREAM_ORDER lists the runs (default "ahead sync ahead sync")
            i=0
            for m in ${STREAM_ORDER:-ahead sync ahead sync}; do
                i=$((i + 1))
                run stream27 300 "${cli[@]}" bench --backend opencl --preset 2.7B --models hgrn --batch 1,64 --context 128 \
                    --decode-steps 100 $([ $m = sync ] && echo --sync-decode) --out "$out/stream-$i-$m-2.7B"
            done ;;
        profile27)  # device time by kernel of a 2.7B batch-64 run (MMFREE_OPENCL_PROFILE=1: launches serialized)
            MMFREE_OPENCL_PROFILE=1 run profile27 300 "${cli[@]}" bench --backend opencl --preset 2.7B --models hgrn --batch 64 \
                --context 128 --decode-steps 20 --out "$out/profile-2.7B" ;;
        profile1)   # device time by kernel of a 2.7B batch-1 decode (fused path; launches serialized)
            MMFREE_OPENCL_PROFILE=1 run profile1 300 "${cli[@]}" bench --backend opencl --preset 2.7B --models hgrn --batch 1 \
                --context 128 --decode-steps 50 --out "$out/profile1-2.7B" ;;
        info)
            run info 60 "${cli[@]}" info -v ;;
        enqueue)    # the host's time a clEnqueueNDRangeKernel by the kind and number of its arguments (EnqueueCostBench;
                    # ENQUEUE_ARGS: more arguments, e.g. "--contexts 4 --launches 8192")
            run enqueue 240 "${java_cmd[@]}" dev.mmfree.kernels.opencl.EnqueueCostBench --device nvidia ${ENQUEUE_ARGS:-} ;;
        launchperiod)   # the device's time from one small launch to the next, queued behind a long kernel (LaunchPeriodBench;
                        # PERIOD_ARGS: more arguments, e.g. "--launches 400 --runs 15")
            run launchperiod 240 "${java_cmd[@]}" dev.mmfree.kernels.opencl.LaunchPeriodBench --device nvidia ${PERIOD_ARGS:-} ;;
        dense)
            run dense 240 "${java_cmd[@]}" dev.mmfree.kernels.gemv.GemvOpenClBench --device nvidia ;;
        densegemv)  # the fp16 GEMVs alone (GemvOpenClBench --gemv-only DENSE_ARGS) under DENSE_RUNS env settings (VAR=VALUE, several
                    # joined by commas; "-" for none), one run each; then, for each run, the loads of its compiled GEMV
                    # (NVIDIA's program binaries are PTX text)
            i=0
            for e in ${DENSE_RUNS:--}; do
                i=$((i + 1))
                MMFREE_CACHE=$out/dense-cache-$i run densegemv 120 env $([ "$e" = - ] || echo "${e//,/ }") "${java_cmd[@]}" \
                    dev.mmfree.kernels.gemv.GemvOpenClBench --device nvidia --gemv-only ${DENSE_ARGS:-}
                for f in $(grep -l gemv_f16_f32 "$out"/dense-cache-$i/opencl/*.bin 2>/dev/null); do
                    echo "== run $i ($e): $(basename "$f")"; grep -o "ld\.global[.a-z0-9:_]*" "$f" | sort | uniq -c
                done >> "$out/densegemv.log"
                rm -rf "$out/dense-cache-$i"
            done ;;
        attention)  # the attention kernel alone (GemvOpenClBench --attention-only) under ATTN_RUNS env settings (VAR=VALUE,
                    # several joined by commas; "-" for none), one run each, in order
            for e in ${ATTN_RUNS:--}; do
                run attention 180 env $([ "$e" = - ] || echo "${e//,/ }") "${java_cmd[@]}" dev.mmfree.kernels.gemv.GemvOpenClBench \
                    --device nvidia --attention-only
            done ;;
        densetrace) # where a one-launch Transformer++ layer's time goes: its clock marks (GemvOpenClBench --layer-trace), and
                    # each GEMV phase's weight rate on the critical path against a copy of the same run, at the
                    # sizes TRACE_SIZES (d x I; default 2.7B, 1.3B and 370M), contexts 128 and 512, cold layers in turn, under
                    # TRACE_RUNS env settings (as ATTN_RUNS), one run each, in order
            for e in ${TRACE_RUNS:--}; do
                run densetrace 240 env $([ "$e" = - ] || echo "${e//,/ }") "${java_cmd[@]}" dev.mmfree.kernels.gemv.GemvOpenClBench \
                    --device nvidia --layer-trace --sizes ${TRACE_SIZES:-2560x6912,2048x5632,1024x2816}
            done ;;
        bench370)
            run bench370 300 "${cli[@]}" bench --backend opencl --preset 370M --batch 1,64 --context 512 --decode-steps 200 \
                --out "$out/bench-370M" ;;
        bench27)
            run bench27 540 "${cli[@]}" bench --backend opencl --preset 2.7B --batch 1,64 --context 128 --decode-steps 100 \
                --out "$out/bench-2.7B" ;;
        hgrn27)
            run hgrn27 300 "${cli[@]}" bench --backend opencl --preset 2.7B --models hgrn --batch 1,64 --context 128 \
                --decode-steps 100 --out "$out/hgrn-2.7B" ;;
        persist27)   # the one-launch decode (MMFREE_OPENCL_PERSISTENT=1: all layers in one launch; =layer for one a layer)
            MMFREE_OPENCL_PERSISTENT=1 run persist27 300 "${cli[@]}" bench --backend opencl --preset 2.7B --models hgrn --batch 1 \
                --context 128 --decode-steps 100 --out "$out/persist-2.7B" ;;
        bench13)
            run bench13 540 "${cli[@]}" bench --backend opencl --preset 1.3B --batch 1 --context 128 --decode-steps 100 \
                --out "$out/bench-1.3B" ;;
        sweep)
            run sweep 540 "${cli[@]}" bench --backend opencl --preset 370M --sweep --decode-steps 50 --prefill-repeats 1 \
                --out "$out/sweep-370M" ;;
        *) echo "unknown step $step" ;;
    esac
done
grep -h "=== \|tests successful\|tests failed\|verify: \|MatMul-free\|Transformer++" "$out"/*.log | grep -v "^=== [a-z0-9]*: [0-9:]* " | tail -70
