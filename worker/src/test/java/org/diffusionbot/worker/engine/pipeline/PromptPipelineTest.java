package org.diffusionbot.worker.engine.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.diffusionbot.common.Sampler;
import org.junit.jupiter.api.Test;
import org.diffusionbot.worker.engine.TinyModels;

/** Emphasis and long prompts through the whole pipeline (tiny model). */
class PromptPipelineTest {
    /** 100 tokens, no commas. */
    private static final String LONG = "a photograph of an astronaut riding a horse on the moon ".repeat(8)
            + "with frogs on stilts and a cozy cabin under snowy mountains";

    private final StableDiffusionPipeline p = TinyModels.folder();

    private static GenerationRequest req(String prompt, long seed, double cfg) {
        return GenerationRequest.of(prompt, 64, 64, 2, Sampler.EULER, seed).withGuidanceScale(cfg);
    }

    private static RequestResult.Success ok(RequestResult r) {
        return assertInstanceOf(RequestResult.Success.class, r, () -> r.toString());
    }

    private RgbImage run(GenerationRequest r) {
        return ok(p.generate(List.of(r), null).get(0)).images().get(0);
    }

    /** The first 75 tokens of a prompt, as the pipeline used to keep them. */
    private String truncated(String prompt) {
        int[] ids = p.tokenizer().tokenize(prompt);
        return p.tokenizer().decode(java.util.Arrays.copyOf(ids, 75));
    }

    @Test
    void theLongTestPromptHasAHundredTokens() {
        assertEquals(100, p.tokenizer().tokenize(LONG).length);
        assertEquals(75, p.tokenizer().tokenize(truncated(LONG)).length);
    }

    @Test
    void longNegativeWithShortPositiveRunsAndUsesAllOfIt() {
        RequestResult r = p.generate(List.of(req("frogs on stilts", 5, 7.5).withNegativePrompt(LONG)), null).get(0);
        RgbImage full = ok(r).images().get(0);
        assertEquals(List.of("long negative prompt (100 tokens): encoded in 2 chunks of 75 tokens"), r.notes());
        RgbImage cut = run(req("frogs on stilts", 5, 7.5).withNegativePrompt(truncated(LONG)));
        assertTrue(PipelineBehaviourTest.maxLevelDiff(full, cut) > 0, "the last 25 tokens change the image");
    }

    @Test
    void longPositiveWithShortNegativeRunsAndUsesAllOfIt() {
        RequestResult r = p.generate(List.of(req(LONG, 6, 7.5).withNegativePrompt("blurry")), null).get(0);
        assertEquals(List.of("long prompt (100 tokens): encoded in 2 chunks of 75 tokens"), r.notes());
        RgbImage cut = run(req(truncated(LONG), 6, 7.5).withNegativePrompt("blurry"));
        assertTrue(PipelineBehaviourTest.maxLevelDiff(ok(r).images().get(0), cut) > 0);
    }

    @Test
    void withoutGuidanceTheNegativeIsNotCountedNorNoted() {
        RequestResult r = p.generate(List.of(req("frogs on stilts", 7, 1.0).withNegativePrompt(LONG)), null).get(0);
        assertEquals(List.of(), r.notes());
        // the unused negative changes nothing
        assertArrayEquals(ok(r).images().get(0).rgb(), run(req("frogs on stilts", 7, 1.0)).rgb());
    }

    @Test
    void aBatchMixingChunkCountsRuns() {
        String three = LONG + " " + LONG; // 200 tokens: 3 chunks
        List<GenerationRequest> batch = List.of(
                req(LONG, 11, 7.5),
                req("frogs on stilts", 12, 3.0).withNegativePrompt(three).withSeeds(List.of(12L, 13L)),
                req("a cozy (cabin:1.3)", 14, 1.0).withClipSkip(2));
        List<RequestResult> out = p.generate(batch, null);
        assertEquals(List.of("long prompt (100 tokens): encoded in 2 chunks of 75 tokens"), out.get(0).notes());
        assertEquals(List.of("long negative prompt (200 tokens): encoded in 3 chunks of 75 tokens"), out.get(1).notes());
        assertEquals(List.of(), out.get(2).notes());
        assertEquals(2, ok(out.get(1)).images().size());
        ok(out.get(0));
        ok(out.get(2));
        // the request with the most chunks is not padded: the batch gives what it gives alone
        for (int k = 0; k < 2; k++) {
            RgbImage alone = run(batch.get(1).withSeeds(List.of(batch.get(1).seeds().get(k))));
            assertTrue(PipelineBehaviourTest.maxLevelDiff(alone, ok(out.get(1)).images().get(k)) <= 1, "image " + k);
        }
    }

    @Test
    void emphasisChangesTheImageAndWeightOneDoesNot() {
        RgbImage plain = run(req("frogs on stilts", 21, 7.5));
        assertArrayEquals(plain.rgb(), run(req("(frogs:1) on stilts", 21, 7.5)).rgb());
        assertTrue(PipelineBehaviourTest.maxLevelDiff(plain, run(req("(frogs:1.6) on stilts", 21, 7.5))) > 0);
        assertTrue(PipelineBehaviourTest.maxLevelDiff(plain, run(req("frogs on stilts", 21, 7.5)
                .withNegativePrompt("[blurry]"))) > 0);
    }
}
