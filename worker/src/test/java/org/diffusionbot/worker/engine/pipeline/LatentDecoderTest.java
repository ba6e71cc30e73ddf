package org.diffusionbot.worker.engine.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.List;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.worker.engine.Scalars;
import org.diffusionbot.worker.engine.TinyModels;
import org.diffusionbot.worker.engine.cuda.FakeGraphBackend;
import org.diffusionbot.worker.engine.cuda.GraphPool;
import org.junit.jupiter.api.Test;

/**
 * The decode phase in chunks of several images ({@code SD_DECODE_BATCH}) on the tiny model (CPU, float32): each
 * request gets the images its rows give decoded one at a time, in its own order (distinct latents, so a swap shows),
 * also through (fake) CUDA graphs of each chunk size, and a row whose image or latents are not finite fails its own
 * request only, also from inside a chunk.
 */
class LatentDecoderTest {
    private final StableDiffusionPipeline p = TinyModels.folder();

    @Test
    void chunksAreTheBatchThenPowersOfTwo() {
        assertArrayEquals(new int[] {4, 4}, LatentDecoder.chunkSizes(8, 4));
        assertArrayEquals(new int[] {4, 2, 1}, LatentDecoder.chunkSizes(7, 4));
        assertArrayEquals(new int[] {4, 2}, LatentDecoder.chunkSizes(6, 4));
        assertArrayEquals(new int[] {4, 1}, LatentDecoder.chunkSizes(5, 4));
        assertArrayEquals(new int[] {2, 1}, LatentDecoder.chunkSizes(3, 4));
        assertArrayEquals(new int[] {1}, LatentDecoder.chunkSizes(1, 4));
        assertArrayEquals(new int[] {}, LatentDecoder.chunkSizes(0, 4));
        assertArrayEquals(new int[] {1, 1, 1}, LatentDecoder.chunkSizes(3, 1), "1: one at a time, as before");
        assertArrayEquals(new int[] {3, 3, 1}, LatentDecoder.chunkSizes(7, 3));
        assertArrayEquals(new int[] {8, 4, 2, 1}, LatentDecoder.chunkSizes(15, 8));
    }

    @Test
    void largerImagesAndFloat32DecodersTakeFewerImagesPerCall() {
        assertEquals(4, LatentDecoder.imagesPerCall(4, 64, 64, 2), "SD 1.5, 512x512, float16");
        assertEquals(1, LatentDecoder.imagesPerCall(1, 64, 64, 2));
        assertEquals(2, LatentDecoder.imagesPerCall(4, 64, 96, 2), "512x768");
        assertEquals(1, LatentDecoder.imagesPerCall(4, 96, 96, 2), "768x768");
        assertEquals(2, LatentDecoder.imagesPerCall(4, 64, 64, 4), "512x512, float32");
        assertEquals(1, LatentDecoder.imagesPerCall(4, 128, 128, 4), "SDXL, 1024x1024, its float32 VAE");
        assertEquals(1, LatentDecoder.imagesPerCall(15, 128, 128, 4));
        assertEquals(4, LatentDecoder.imagesPerCall(4, 8, 8, 4), "small images: the setting");
        assertThrows(IllegalArgumentException.class, () -> new LatentDecoder(p.vaeDecode(), 0));
    }

    @Test
    void theDecoderHasNoOperationAcrossSamples() {
        try (NDManager m = NDManager.newBaseManager(p.device())) {
            NDArray z = m.randomNormal(new Shape(5, 4, 8, 8));
            NDArray together = p.models().vae().decode(m, z);
            float[] all = together.toFloatArray();
            int per = all.length / 5;
            double worst = 0;
            double scale = 0;
            for (int i = 0; i < 5; i++) {
                float[] alone = p.models().vae().decode(m, z.get(i + ":" + (i + 1))).toFloatArray();
                for (int k = 0; k < per; k++) {
                    worst = Math.max(worst, Math.abs(alone[k] - all[i * per + k]));
                    scale = Math.max(scale, Math.abs(alone[k]));
                }
            }
            assertTrue(scale > 0.01, "the decoder gives something: " + scale);
            assertTrue(worst <= 1e-5 * Math.max(1, scale), "batch of 5 against each alone: max |diff| " + worst);
        }
    }

    @Test
    void eachRequestGetsTheImagesItsRowsGiveDecodedAlone() {
        List<GenerationRequest> requests = List.of(request("a", 1, 2), request("b", 3, 1), request("c", 4, 3));
        try (NDManager m = NDManager.newBaseManager(p.device())) {
            NDArray x = latents(m, 6);
            List<RgbImage> alone = aloneByRow(m, x);
            for (int batch : new int[] {4, 3, 2, 1}) {
                BatchRows rows = rows(requests);
                new LatentDecoder(p.vaeDecode(), batch).decode(m, x, rows);
                List<RequestResult> results = rows.finish();
                for (int i = 0; i < rows.size(); i++) {
                    RgbImage got = image(results.get(rows.requestOf(i)), rows.imageOf(i));
                    assertSameImage(alone.get(i), got, "decode batch " + batch + ", row " + i);
                }
            }
            // distinct latents, distinct images: a swap would show above
            for (int i = 1; i < alone.size(); i++) {
                assertTrue(PipelineBehaviourTest.meanLevelDiff(alone.get(0), alone.get(i)) > 1, "row " + i);
            }
        }
    }

    @Test
    void throughCudaGraphsEachChunkSizeHasItsGraphAndEveryChunkKeepsItsImages() {
        // the graph path on the CPU (FakeGraphBackend: a replay writes into the same output arrays): 7 rows decode as
        // 4 + 2 + 1, a graph each, and a chunk's bytes must be copied out before the next chunk's replay
        FakeGraphBackend fake = new FakeGraphBackend();
        List<GenerationRequest> requests = List.of(request("a", 1, 3), request("b", 4, 2), request("c", 6, 2));
        try (NDManager m = NDManager.newBaseManager(p.device());
                VaeDecode graphs = new VaeDecode(p.models().vae(), p.device(), true, 3, new GraphPool(fake))) {
            NDArray x = latents(m, 7);
            List<RgbImage> alone = aloneByRow(m, x);
            for (int run = 0; run < 2; run++) { // the second run replays the graphs the first captured
                BatchRows rows = rows(requests);
                new LatentDecoder(graphs, 4).decode(m, x, rows);
                List<RequestResult> results = rows.finish();
                for (int i = 0; i < rows.size(); i++) {
                    assertSameImage(alone.get(i), image(results.get(rows.requestOf(i)), rows.imageOf(i)),
                            "run " + run + ", row " + i);
                }
            }
            assertEquals(3, fake.count("capture"), "shapes 4, 2 and 1: " + fake.calls);
            assertEquals(6, fake.count("replay"), "3 calls a run");
            assertEquals(3, graphs.graphs().graphCount());
        }
        assertEquals(0, fake.live().size(), "every graph destroyed with the decode");
    }

    @Test
    void aRowThatIsNotFiniteFailsItsRequestOnlyEvenInsideAChunk() {
        // rows: a0 a1 | b0 | c0 | d0 d1; a1's latents overflow to Inf once divided by the scaling factor (finite
        // before: decoded, in the first chunk with a0, b0 and d0), c0's are NaN (never decoded)
        List<GenerationRequest> requests = List.of(request("a", 1, 2), request("b", 3, 1), request("c", 4, 1),
                request("d", 5, 2));
        try (NDManager m = NDManager.newBaseManager(p.device())) {
            float[] v = latents(m, 6).toFloatArray();
            int per = v.length / 6;
            java.util.Arrays.fill(v, per, 2 * per, 3e38f);
            v[3 * per + 5] = Float.NaN;
            NDArray x = m.create(v, new Shape(6, 4, 8, 8));
            List<RgbImage> alone = aloneByRow(m, x);
            BatchRows rows = rows(requests);
            new LatentDecoder(p.vaeDecode(), 4).decode(m, x, rows);
            List<RequestResult> results = rows.finish();
            for (int r : new int[] {0, 2}) {
                RequestResult.Failure f = assertInstanceOf(RequestResult.Failure.class, results.get(r));
                assertEquals(RequestResult.Reason.NUMERICAL, f.reason());
            }
            assertSameImage(alone.get(2), image(results.get(1), 0), "b");
            assertSameImage(alone.get(4), image(results.get(3), 0), "d's first, in a1's chunk");
            assertSameImage(alone.get(5), image(results.get(3), 1), "d's second");
        }
    }

    private static GenerationRequest request(String prompt, long firstSeed, int images) {
        List<Long> seeds = new ArrayList<>();
        for (int k = 0; k < images; k++) {
            seeds.add(firstSeed * 10 + k);
        }
        return GenerationRequest.of(prompt, 64, 64, 2, Sampler.EULER, firstSeed).withSeeds(seeds);
    }

    private BatchRows rows(List<GenerationRequest> requests) {
        BatchRows rows = new BatchRows(requests.stream().map(p::prepare).toList());
        rows.assignRows();
        return rows;
    }

    /** N(0, 1) latents of 64x64 images times the scaling factor (what the decoder sees is N(0, 1)), a row each. */
    private NDArray latents(NDManager m, int n) {
        return Scalars.mul(m.randomNormal(new Shape(n, 4, 8, 8)), (float) p.vaeDecode().vae().config().scalingFactor());
    }

    /** Each row of {@code x} decoded alone, straight through the VAE decode. */
    private List<RgbImage> aloneByRow(NDManager m, NDArray x) {
        List<RgbImage> out = new ArrayList<>();
        for (int i = 0; i < x.getShape().get(0); i++) {
            try (NDManager s = m.newSubManager()) {
                NDArray row = x.get(i + ":" + (i + 1));
                row.attach(s);
                VaeDecode.Bytes b = p.vaeDecode().decode(s, row);
                out.add(new RgbImage(64, 64, b.rgb().toByteArray()));
            }
        }
        return out;
    }

    /**
     * The same image up to rounding: the batch's convolutions may sum in another order (values within 1e-5 of each
     * other: {@link #theDecoderHasNoOperationAcrossSamples}), which moves a value that lies at a rounding boundary of
     * the 8-bit conversion by one level (2 of 12,288 values at most here): at most 1 level anywhere, and at most 0.1%
     * of the values moved.
     */
    private static void assertSameImage(RgbImage want, RgbImage got, String what) {
        assertEquals(want.rgb().length, got.rgb().length, what);
        int moved = 0;
        for (int k = 0; k < want.rgb().length; k++) {
            int d = Math.abs((want.rgb()[k] & 0xFF) - (got.rgb()[k] & 0xFF));
            assertTrue(d <= 1, what + ": value " + k + " " + d + " levels off");
            moved += d;
        }
        assertTrue(moved <= want.rgb().length / 1000, what + ": " + moved + " of " + want.rgb().length + " values moved");
    }

    private static RgbImage image(RequestResult r, int i) {
        return assertInstanceOf(RequestResult.Success.class, r, r::toString).images().get(i);
    }
}
