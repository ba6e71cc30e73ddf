package org.diffusionbot.worker.engine;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.engine.EngineException;
import ai.djl.ndarray.types.DataType;
import org.diffusionbot.worker.engine.cuda.GpuSetup;
import org.diffusionbot.worker.engine.pipeline.PipelineOptions;

/**
 * Where the pipeline runs and in which precision: CPU in float32, CUDA in float16 (the numerically
 * sensitive parts stay in float32 inside the engine).
 */
public record ComputeDevice(Device device, DataType dtype) {

    /**
     * Resolves {@code auto} (CUDA when PyTorch sees a GPU), {@code cpu} or {@code gpu}.
     *
     * @throws IllegalArgumentException for another mode, {@code gpu} without a CUDA device, or a libtorch DJL cannot
     *                                  load (the last two saying what to change, as {@link GpuSetup#advice()})
     */
    public static ComputeDevice select(String mode) {
        boolean gpuAvailable;
        try {
            gpuAvailable = Engine.getInstance().getGpuCount() > 0;
        } catch (EngineException e) {
            throw new IllegalArgumentException(advice(), e);
        }
        return switch (mode) {
            case "cpu" -> new ComputeDevice(Device.cpu(), DataType.FLOAT32);
            case "gpu" -> {
                if (!gpuAvailable) {
                    throw new IllegalArgumentException("a GPU was asked for but PyTorch sees no CUDA device: "
                            + advice());
                }
                yield new ComputeDevice(Device.gpu(), DataType.FLOAT16);
            }
            case "auto" -> gpuAvailable ? new ComputeDevice(Device.gpu(), DataType.FLOAT16)
                    : new ComputeDevice(Device.cpu(), DataType.FLOAT32);
            default -> throw new IllegalArgumentException("device must be auto, cpu or gpu, got " + mode);
        };
    }

    @Override
    public String toString() {
        return (device.isGpu() ? "cuda:" + device.getDeviceId() : "cpu") + " "
                + dtype.name().toLowerCase(java.util.Locale.ROOT);
    }

    /**
     * The setup's advice where libtorch did not load or no CUDA device is there: it stops at those, before CUDA graphs
     * or the layout would matter, so the report takes the defaults' instead of reading the settings.
     */
    private static String advice() {
        PipelineOptions d = PipelineOptions.DEFAULTS;
        return GpuSetup.probe(d.cudaGraphs(), d.vaeGraphs(), d.channelsLast()).advice();
    }
}
