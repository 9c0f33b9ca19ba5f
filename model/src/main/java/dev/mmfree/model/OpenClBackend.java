package dev.mmfree.model;

import dev.mmfree.model.hgrn.HgrnBitOpenCl;
import dev.mmfree.model.hgrn.HgrnBitWeights;
import dev.mmfree.kernels.gemv.Storage;
import dev.mmfree.model.llama.LlamaOpenCl;
import dev.mmfree.model.llama.LlamaWeights;
import dev.mmfree.runtime.LaunchProfile;
import dev.mmfree.runtime.opencl.OpenCl;

import java.util.Optional;

/**
 * Models on an OpenCL device. The device is {@link OpenCl#select}'s choice: the configured selector
 * (system property {@value OpenCl#DEVICE_PROPERTY} or env {@value OpenCl#DEVICE_ENV}), else the first
 * GPU. Without a selector a machine with only CPU OpenCL devices (PoCL) counts as unavailable, so
 * {@code auto} picks the cpu backend there; naming a CPU device with a selector uses it.
 * Env {@code MMFREE_OPENCL_FUSED=0} runs batch-1 decoding through the GEMM path (for comparisons).
 * Llama (the Transformer++ baseline) keeps its matrices and KV cache in fp16, as a deployed baseline would.
 */
public final class OpenClBackend implements ModelBackend {
    public static final String NAME = HgrnBitOpenCl.BACKEND;

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public Optional<String> unavailableReason() {
        Optional<String> none = OpenCl.unavailableReason();
        if (none.isPresent()) {
            return none;
        }
        if (OpenCl.configuredSelector() == null && OpenCl.devices().stream().noneMatch(OpenCl.Candidate::gpu)) {
            return Optional.of("no OpenCL GPU found (devices: " + OpenCl.devices() + "; select one with -D"
                    + OpenCl.DEVICE_PROPERTY + " or " + OpenCl.DEVICE_ENV + ")");
        }
        return Optional.empty();
    }

    @Override
    public CausalLm hgrnBit(HgrnBitWeights w) {
        boolean fused = !"0".equals(System.getenv("MMFREE_OPENCL_FUSED"));
        return new HgrnBitOpenCl(w, OpenCl.open(null, LaunchProfile.needsProfilingDevice()), fused);
    }

    @Override
    public CausalLm llama(LlamaWeights w) {
        return LlamaOpenCl.onDefaultDevice(w, Storage.F16);
    }
}
