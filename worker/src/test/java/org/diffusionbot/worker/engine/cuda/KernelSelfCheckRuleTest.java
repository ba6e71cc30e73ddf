package org.diffusionbot.worker.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * {@link KernelSelfCheck#within}: the pass rule of every fp16 case (now also of each cuBLASLt candidate algorithm
 * autotuning may pick), on {max, mean} absolute errors against the fp32 oracle.
 */
class KernelSelfCheckRuleTest {
    @Test
    void withinFp16RoundingOrNoWorseThanPyTorchsOwnFp16ResultPlusAQuarter() {
        float[] torch = {0.05f, 0.002f};
        assertTrue(KernelSelfCheck.within(new float[] {0.02f, 1e-3f}, torch), "fp16 rounding, whatever PyTorch's");
        assertTrue(KernelSelfCheck.within(new float[] {0.0625f, 0.0025f}, torch), "1.25x PyTorch's, both figures");
        assertFalse(KernelSelfCheck.within(new float[] {0.07f, 0.002f}, torch), "max beyond 1.25x");
        assertFalse(KernelSelfCheck.within(new float[] {0.05f, 0.003f}, torch), "mean beyond 1.25x");
        assertFalse(KernelSelfCheck.within(new float[] {0.01f, 2e-3f}, new float[] {0.01f, 1e-3f}),
                "small max but a mean beyond both bounds");
        assertFalse(KernelSelfCheck.within(new float[] {Float.NaN, Float.NaN}, torch), "NaN fails");
    }
}
