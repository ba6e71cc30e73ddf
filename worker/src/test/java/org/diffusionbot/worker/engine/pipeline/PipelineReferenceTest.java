package org.diffusionbot.worker.engine.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.diffusionbot.common.Sampler;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.diffusionbot.worker.engine.RefData;
import org.diffusionbot.worker.engine.TinyModels;

/**
 * Every diffusers pipeline case of the reference, through {@link StableDiffusionPipeline#generate},
 * for both on-disk layouts: timesteps equal, latents and x0 within 1e-3·max(1, max|ref|) at every
 * step, 8-bit image within one level per channel.
 *
 * <p>Euler a included: its per-step noise comes from the case's generator after the initial noise
 * (the reference regenerated on 2026-11-30), as the pipeline draws it.
 */
class PipelineReferenceTest {

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (String layout : List.of("folder", "single-file")) {
            for (JsonElement e : RefData.json("/reference/tiny-sd15/cases.json").getAsJsonArray("pipeline_cases")) {
                JsonObject c = e.getAsJsonObject();
                out.add(Arguments.of(layout, c.get("key").getAsString() + " " + c.get("scheduler").getAsString(), c));
            }
        }
        assertEquals(30, out.size());
        return out.stream();
    }

    static GenerationRequest request(JsonObject c) {
        return new GenerationRequest(c.get("prompt").getAsString(), c.get("negative_prompt").getAsString(),
                List.of(c.get("seed").getAsLong()), c.get("guidance_scale").getAsDouble(),
                org.diffusionbot.common.GenerationLimits.FAMILY_DEFAULT_CLIP_SKIP, c.get("width").getAsInt(),
                c.get("height").getAsInt(), c.get("steps").getAsInt(), Sampler.fromId(c.get("scheduler").getAsString()),
                null, null);
    }

    /** Records timesteps, latents and x0 of request 0, image 0 at every step. */
    static final class Recorder implements PipelineCallbacks {
        final List<Float> timesteps = new ArrayList<>();
        final List<float[]> latents = new ArrayList<>();
        final List<float[]> x0 = new ArrayList<>();

        @Override
        public void onStep(StepView s) {
            timesteps.add(s.timestep());
            latents.add(s.latents(0, 0));
            x0.add(s.x0(0, 0));
        }

        float[] timestepArray() {
            float[] t = new float[timesteps.size()];
            for (int i = 0; i < t.length; i++) {
                t[i] = timesteps.get(i);
            }
            return t;
        }
    }

    static void assertClose(float[] ref, float[] actual, String what) {
        double tol = 1e-3 * Math.max(1, RefData.maxAbs(ref));
        double d = RefData.maxAbsDiff(actual, ref);
        assertTrue(d <= tol, what + ": max|Δ| " + d + " > " + tol);
    }

    /** 8-bit image within one level of round(255·ref). */
    static void assertImage(RefData.Tensor ref, RgbImage img, String what) {
        assertEquals(ref.shape()[0], img.height(), what + " height");
        assertEquals(ref.shape()[1], img.width(), what + " width");
        int worst = 0;
        for (int i = 0; i < ref.data().length; i++) {
            int expected = (int) Math.rint(ref.data()[i] * 255f);
            worst = Math.max(worst, Math.abs(expected - (img.rgb()[i] & 0xFF)));
        }
        assertTrue(worst <= 1, what + ": an 8-bit channel differs by " + worst + " levels");
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void matchesDiffusers(String layout, String name, JsonObject c) {
        StableDiffusionPipeline p = layout.equals("folder") ? TinyModels.folder() : TinyModels.singleFile();
        String key = c.get("key").getAsString();
        Recorder rec = new Recorder();
        List<RequestResult> results = p.generate(List.of(request(c)), rec);
        RgbImage img = assertInstanceOf(RequestResult.Success.class, results.get(0)).images().get(0);

        RefData.Tensor ts = RefData.tensor(key + ".timesteps");
        assertArrayEquals(ts.data(), rec.timestepArray(), name + " timesteps");
        RefData.Tensor latents = RefData.tensor(key + ".latents");
        RefData.Tensor x0 = RefData.tensor(key + ".x0");
        for (int i = 0; i < ts.numel(); i++) {
            assertClose(x0.slice(i).data(), rec.x0.get(i), name + " x0[" + i + "]");
            assertClose(latents.slice(i).data(), rec.latents.get(i), name + " latents[" + i + "]");
        }
        assertImage(RefData.tensor(key + ".image"), img, name + " image");
    }
}
