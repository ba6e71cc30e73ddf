package org.diffusionbot.worker.engine.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import com.google.gson.JsonObject;
import java.util.List;
import java.util.stream.Stream;
import org.diffusionbot.worker.engine.RefData;
import org.diffusionbot.worker.engine.TinyModels;
import org.diffusionbot.worker.engine.schedulers.SamplerReferenceTest;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every case of {@code tiny-sd15/cases-samplers.json} (lcm, heun, dpmpp_2m_sde(_karras), the
 * trailing, karras and exponential schedules) through {@link StableDiffusionPipeline#generate} with
 * the real tiny UNet: timesteps, latents and x0 at every model call within 1e-3·max(1, max|ref|),
 * the 8-bit image within one level. The stochastic samplers' noise comes from the seed's generator.
 */
class SamplerPipelineReferenceTest {
    static Stream<Arguments> cases() {
        return SamplerReferenceTest.cases();
    }

    static GenerationRequest request(JsonObject c) {
        return PipelineReferenceTest.request(c).withSchedule(SamplerReferenceTest.schedule(c));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void matchesDiffusers(String name, JsonObject c) {
        String key = c.get("key").getAsString();
        PipelineReferenceTest.Recorder rec = new PipelineReferenceTest.Recorder();
        List<RequestResult> results = TinyModels.folder().generate(List.of(request(c)), rec);
        RgbImage img = assertInstanceOf(RequestResult.Success.class, results.get(0)).images().get(0);
        RefData.Tensor ts = RefData.tensorIn(SamplerReferenceTest.TENSORS, key + ".timesteps");
        SamplerReferenceTest.assertTimesteps(ts.data(), rec.timestepArray(), name);
        assertEquals(c.get("unet_evaluations").getAsInt(), rec.x0.size(), name + " model calls");
        RefData.Tensor latents = RefData.tensorIn(SamplerReferenceTest.TENSORS, key + ".latents");
        RefData.Tensor x0 = RefData.tensorIn(SamplerReferenceTest.TENSORS, key + ".x0");
        for (int i = 0; i < ts.numel(); i++) {
            PipelineReferenceTest.assertClose(x0.slice(i).data(), rec.x0.get(i), name + " x0[" + i + "]");
            PipelineReferenceTest.assertClose(latents.slice(i).data(), rec.latents.get(i), name + " latents[" + i + "]");
        }
        PipelineReferenceTest.assertImage(RefData.tensorIn(SamplerReferenceTest.TENSORS, key + ".image"), img,
                name + " image");
    }
}
