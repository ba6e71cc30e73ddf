package org.diffusionbot.worker.engine.schedulers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.diffusionbot.common.Sampler;
import org.junit.jupiter.api.Test;

/** {@code rescale_betas_zero_snr} as diffusers applies it per scheduler class. */
class ZeroTerminalSnrTest {
    private static final SchedulerConfig PLAIN = SchedulerConfig.stableDiffusion();
    private static final SchedulerConfig ZSNR = PLAIN.withZeroTerminalSnr();

    private static float[] alphas(Sampler s, SchedulerConfig c) {
        try (Scheduler sched = Schedulers.create(s, c)) {
            return ((AbstractScheduler) sched).alphasCumprod.clone();
        }
    }

    @Test
    void rescaledScheduleKeepsItsStartAndEndsAtZeroSnr() {
        float[] plain = alphas(Sampler.DDIM, PLAIN);
        float[] z = alphas(Sampler.DDIM, ZSNR);
        int n = z.length;
        assertEquals(plain[0], z[0], 1e-6f, "ᾱ at t = 0 is kept");
        assertEquals(0f, z[n - 1], "ddim keeps ᾱ = 0 at the last timestep");
        // √ᾱ is an affine map of the plain √ᾱ: (√ᾱ − √ᾱ_T)·√ᾱ_0/(√ᾱ_0 − √ᾱ_T)
        double s0 = Math.sqrt(plain[0]);
        double sT = Math.sqrt(plain[n - 1]);
        for (int t : new int[] {1, 250, 500, 750, 998}) {
            double expected = (Math.sqrt(plain[t]) - sT) * s0 / (s0 - sT);
            assertEquals(expected, Math.sqrt(z[t]), 1e-5, "√ᾱ at t = " + t);
        }
        assertTrue(z[500] < plain[500], "less signal than the plain schedule mid-way");
    }

    @Test
    void sigmaSchedulersClampTheLastAlphaAndOthersIgnoreTheOption() {
        for (Sampler s : new Sampler[] {Sampler.EULER, Sampler.EULER_A, Sampler.DPMPP_2M, Sampler.UNIPC}) {
            float[] z = alphas(s, ZSNR);
            assertEquals(0x1p-24f, z[z.length - 1], s + ": last ᾱ clamped to 2^-24");
        }
        for (Sampler s : new Sampler[] {Sampler.PNDM, Sampler.LMS}) {
            assertArrayEquals(alphas(s, PLAIN), alphas(s, ZSNR), s + " has no rescale_betas_zero_snr in diffusers");
        }
    }

    @Test
    void zeroSnrModelsUseTrailingTimestepsUnlessASpacingIsForced() {
        try (Scheduler s = Schedulers.create(Sampler.EULER, ZSNR, 5)) {
            assertEquals(999f, s.timesteps()[0], "trailing spacing starts at the pure-noise timestep");
        }
        assertEquals("leading", PLAIN.withTimestepSpacing("leading").withZeroTerminalSnr().timestepSpacing());
        SchedulerConfig fromJson = SchedulerConfig.fromJson("{\"beta_schedule\": \"scaled_linear\", \"beta_start\": 0.00085,"
                + " \"beta_end\": 0.012, \"prediction_type\": \"v_prediction\", \"rescale_betas_zero_snr\": true}");
        assertTrue(fromJson.rescaleBetasZeroSnr());
        assertEquals("trailing", fromJson.timestepSpacing());
    }
}
