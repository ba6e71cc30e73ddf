package org.diffusionbot.worker.engine.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.worker.engine.RefData;
import org.diffusionbot.worker.engine.TinySdxl;
import org.diffusionbot.worker.engine.loaders.ModelLoader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every SDXL pipeline case of the reference ({@code tiny-sdxl/cases.json}: euler, euler_a,
 * dpmpp_2m_karras, ddim, unipc; square and non-square; guidance 1, 5 and 7; an empty negative
 * prompt) through {@link StableDiffusionPipeline#generate} on the diffusers folder: timesteps equal,
 * latents and x0 within 1e-3·max(1, max|ref|) at every step, the 8-bit image within one level. The
 * single file runs the same cases through the CLI ({@code SdxlImagineCommandTest}) and its
 * components are checked on their own ({@code SdxlComponentsTest}).
 */
class SdxlPipelineReferenceTest {
    private static final Map<String, StableDiffusionPipeline> LOADED = new ConcurrentHashMap<>();

    static StableDiffusionPipeline model(String layout) {
        return LOADED.computeIfAbsent(layout, l -> ModelLoader.load(
                l.equals("folder") ? TinySdxl.folderPath() : TinySdxl.singleFilePath(), DataType.FLOAT32, Device.cpu()));
    }

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (String layout : List.of("folder")) {
            for (JsonElement e : RefData.json("/reference/tiny-sdxl/cases.json").getAsJsonArray("pipeline_cases")) {
                JsonObject c = e.getAsJsonObject();
                out.add(Arguments.of(layout, c.get("key").getAsString() + " " + c.get("scheduler").getAsString(), c));
            }
        }
        assertEquals(8, out.size());
        return out.stream();
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void matchesDiffusers(String layout, String name, JsonObject c) {
        StableDiffusionPipeline p = model(layout);
        String key = c.get("key").getAsString();
        PipelineReferenceTest.Recorder rec = new PipelineReferenceTest.Recorder();
        List<RequestResult> results = p.generate(List.of(PipelineReferenceTest.request(c)), rec);
        RgbImage img = assertInstanceOf(RequestResult.Success.class, results.get(0)).images().get(0);

        RefData.Tensor ts = RefData.tensor("tiny-sdxl", key + ".timesteps");
        assertArrayEquals(ts.data(), rec.timestepArray(), name + " timesteps");
        RefData.Tensor latents = RefData.tensor("tiny-sdxl", key + ".latents");
        RefData.Tensor x0 = RefData.tensor("tiny-sdxl", key + ".x0");
        for (int i = 0; i < ts.numel(); i++) {
            PipelineReferenceTest.assertClose(x0.slice(i).data(), rec.x0.get(i), name + " x0[" + i + "]");
            PipelineReferenceTest.assertClose(latents.slice(i).data(), rec.latents.get(i), name + " latents[" + i + "]");
        }
        PipelineReferenceTest.assertImage(RefData.tensor("tiny-sdxl", key + ".image"), img, name + " image");
    }

    /**
     * SDXL's clip skip in Automatic1111's numbering: none (0) and an explicit 2 are diffusers' default (the
     * penultimate layer), matching its image within one level; 1 (the last layer) and 3 (one deeper) are other
     * conditionings, so other images.
     */
    @Test
    void clipSkipTwoIsDiffusersDefaultAndOneAndThreeDiffer() {
        StableDiffusionPipeline p = model("folder");
        JsonObject c = RefData.json("/reference/tiny-sdxl/cases.json").getAsJsonArray("pipeline_cases").get(0)
                .getAsJsonObject();
        GenerationRequest none = PipelineReferenceTest.request(c);
        assertEquals(0, none.clipSkip());
        RgbImage two = image(p, none.withClipSkip(2));
        PipelineReferenceTest.assertImage(RefData.tensor("tiny-sdxl", c.get("key").getAsString() + ".image"), two,
                "clip skip 2 = diffusers' default");
        assertTrue(PipelineBehaviourTest.meanLevelDiff(two, image(p, none.withClipSkip(1))) > 0.5, "1: the last layer");
        assertTrue(PipelineBehaviourTest.meanLevelDiff(two, image(p, none.withClipSkip(3))) > 0.5, "3: one deeper");
    }

    private static RgbImage image(StableDiffusionPipeline p, GenerationRequest r) {
        return assertInstanceOf(RequestResult.Success.class, p.generate(List.of(r), PipelineCallbacks.NONE).get(0))
                .images().get(0);
    }

    /**
     * The whole batch's prompts go through both encoders in one call: a request with an empty negative
     * prompt (its negative rows zeroed, force_zeros_for_empty_prompt) batched with one that has a negative
     * prompt and one with clip skip 3 (one layer deeper than SDXL's default, 2) each get the image they get alone,
     * within one level.
     */
    @Test
    void aBatchMixingEmptyAndGivenNegativesEqualsEachAlone() {
        StableDiffusionPipeline p = model("folder");
        List<GenerationRequest> batch = List.of(
                GenerationRequest.of("a watercolor fox", 64, 64, 3, Sampler.EULER, 7),
                GenerationRequest.of("a castle on a hill", 64, 64, 3, Sampler.EULER, 8).withNegativePrompt("blurry"),
                GenerationRequest.of("a red bicycle", 64, 64, 3, Sampler.EULER, 9).withClipSkip(3));
        List<RequestResult> together = p.generate(batch, PipelineCallbacks.NONE);
        for (int r = 0; r < batch.size(); r++) {
            RgbImage alone = assertInstanceOf(RequestResult.Success.class,
                    p.generate(List.of(batch.get(r)), PipelineCallbacks.NONE).get(0)).images().get(0);
            RgbImage inBatch = assertInstanceOf(RequestResult.Success.class, together.get(r)).images().get(0);
            assertTrue(PipelineBehaviourTest.maxLevelDiff(alone, inBatch) <= 1,
                    "request " + r);
        }
        // the empty negative's zeroed rows matter: the same request with a negative prompt differs
        RgbImage withNegative = assertInstanceOf(RequestResult.Success.class, p.generate(
                List.of(batch.get(0).withNegativePrompt("blurry")), PipelineCallbacks.NONE).get(0)).images().get(0);
        RgbImage without = assertInstanceOf(RequestResult.Success.class, together.get(0)).images().get(0);
        assertTrue(PipelineBehaviourTest.meanLevelDiff(withNegative, without) > 0.5);
    }
}
