package org.diffusionbot.worker.engine.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;
import java.util.List;
import org.diffusionbot.worker.engine.TinyModels;
import org.diffusionbot.worker.engine.models.ClipTextEncoder;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link PromptEncoder} on the tiny model's CLIP: emphasis and chunking checked against expectations
 * computed here from plain encodings with array arithmetic.
 */
class PromptEncoderTest {
    private static ClipTokenizer tok;
    private static ClipTextEncoder clip;
    private static PromptEncoder enc;
    private static int dim;
    private NDManager m;

    @BeforeAll
    static void load() {
        tok = TinyModels.folder().tokenizer();
        clip = TinyModels.folder().models().textEncoder();
        enc = new PromptEncoder(new PromptChunker(tok), clip);
        dim = clip.config().hiddenSize();
    }

    @BeforeEach
    void open() {
        m = NDManager.newBaseManager(Device.cpu());
    }

    @AfterEach
    void close() {
        m.close();
    }

    /** The plain CLIP encoding of rows of 77 ids, (R, 77, D) flattened. */
    private float[] plain(int clipSkip, int[]... rows) {
        long[] ids = new long[rows.length * 77];
        for (int r = 0; r < rows.length; r++) {
            for (int j = 0; j < 77; j++) {
                ids[r * 77 + j] = rows[r][j];
            }
        }
        return clip.encode(m, m.create(ids, new Shape(rows.length, 77)), clipSkip).toFloatArray();
    }

    private float[] encode(int chunks, int clipSkip, String... prompts) {
        List<ChunkedPrompt> cps = Arrays.stream(prompts).map(enc::chunk).toList();
        NDArray z = enc.encode(m, cps, chunks, clipSkip);
        assertEquals(new Shape(prompts.length, 77L * chunks, dim), z.getShape());
        assertEquals(m, z.getManager());
        return z.toFloatArray();
    }

    /** A1111's "Original" emphasis on one (77, D) chunk, in double: z·w, rescaled to the old mean. */
    private static float[] emphasised(float[] z, float[] w) {
        double before = 0;
        double after = 0;
        double[] zw = new double[z.length];
        for (int t = 0; t < 77; t++) {
            for (int d = 0; d < dim; d++) {
                int i = t * dim + d;
                zw[i] = z[i] * (double) w[t];
                before += z[i];
                after += zw[i];
            }
        }
        float[] out = new float[z.length];
        for (int i = 0; i < z.length; i++) {
            out[i] = (float) (zw[i] * (before / after));
        }
        return out;
    }

    private static float[] weights() {
        float[] w = new float[77];
        Arrays.fill(w, 1f);
        return w;
    }

    private static float[] slice(float[] a, int chunk) {
        return Arrays.copyOfRange(a, chunk * 77 * dim, (chunk + 1) * 77 * dim);
    }

    /** |expected − actual| ≤ relTol · max(1, max|expected|) everywhere (float32 rounding of CLIP's values). */
    private static void assertClose(float[] expected, float[] actual, double relTol, String what) {
        assertEquals(expected.length, actual.length, what + " length");
        double worst = 0;
        double scale = 1;
        for (int i = 0; i < expected.length; i++) {
            worst = Math.max(worst, Math.abs(expected[i] - actual[i]));
            scale = Math.max(scale, Math.abs(expected[i]));
        }
        assertTrue(worst <= relTol * scale, what + ": max|Δ| " + worst + " > " + relTol + " · " + scale);
    }

    private static double maxAbsDiff(float[] a, float[] b) {
        double worst = 0;
        for (int i = 0; i < a.length; i++) {
            worst = Math.max(worst, Math.abs(a[i] - b[i]));
        }
        return worst;
    }

    @Test
    void unweightedShortPromptsAreBitForBitTheDiffusersEncoding() {
        // what the pipeline encoded before: one (2, 77) batch [negative, positive]
        String neg = "blurry, low quality, watermark";
        String pos = "A cozy cabin on top of a snowy mountain, in the style of Disney, artstation, 4k!!";
        for (int skip = 1; skip <= 2; skip++) {
            float[] expect = plain(skip, tok.encode(neg).ids(), tok.encode(pos).ids());
            assertArrayEquals(expect, encode(1, skip, neg, pos), "clip skip " + skip);
        }
        // weight 1 written out is no weight
        assertArrayEquals(plain(1, tok.encode("").ids(), tok.encode("a cat").ids()), encode(1, 1, "", "a (cat:1)"));
    }

    @Test
    void weightedTokenIsScaledAndTheMeanRestored() {
        float[] cat = plain(1, tok.encode("cat").ids());
        float[] w = weights();
        w[1] = 1.5f; // the cat token
        float[] expect = emphasised(cat, w);
        float[] actual = encode(1, 1, "(cat:1.5)");
        assertClose(expect, actual, 1e-5, "(cat:1.5)");
        // and it is not the plain encoding: the cat row grew, the others shrank
        assertTrue(maxAbsDiff(cat, actual) > 1e-2);
        // the mean is the plain one
        double m0 = 0;
        double m1 = 0;
        for (int i = 0; i < cat.length; i++) {
            m0 += cat[i];
            m1 += actual[i];
        }
        assertEquals(m0 / cat.length, m1 / cat.length, 1e-6);
    }

    @Test
    void severalWeightsAndClipSkip() {
        float[] w = weights();
        w[2] = (float) (1 / 1.1); // [cat]
        w[3] = 0.7f; // (dog:0.7)
        w[4] = (float) (1.1 * 1.1); // ((cat))
        for (int skip = 1; skip <= 3; skip++) {
            float[] base = plain(skip, tok.encode("a cat dog cat").ids());
            assertClose(emphasised(base, w), encode(1, skip, "a [cat] (dog:0.7) ((cat))"), 1e-5, "clip skip " + skip);
        }
    }

    @Test
    void weightsApplyPerPromptNotAcrossTheBatch() {
        // the negative is weighted, the positive is not: the positive stays exactly plain, the
        // negative gets its own mean restored
        float[] both = encode(1, 1, "(cat:1.5)", "a dog");
        float[] pair = plain(1, tok.encode("cat").ids(), tok.encode("a dog").ids());
        assertArrayEquals(slice(pair, 1), slice(both, 1));
        float[] w = weights();
        w[1] = 1.5f;
        assertClose(emphasised(slice(pair, 0), w), slice(both, 0), 1e-5, "negative");
    }

    @Test
    void aLongPromptIsEncodedChunkByChunk() {
        String prompt = "cat ".repeat(100);
        ChunkedPrompt cp = enc.chunk(prompt);
        assertEquals(2, cp.chunkCount());
        float[] z = encode(2, 1, prompt); // (1, 154, D)
        float[] first = plain(1, tok.encode("cat ".repeat(75)).ids());
        float[] second = plain(1, tok.encode("cat ".repeat(25)).ids());
        assertClose(first, slice(z, 0), 1e-5, "first 75 tokens");
        assertClose(second, slice(z, 1), 1e-5, "last 25 tokens");
        // not what truncation gives: the second chunk is not padding
        assertTrue(maxAbsDiff(slice(z, 1), plain(1, tok.encode("").ids())) > 1e-2);
    }

    @Test
    void aWeightedLongPromptRestoresEachChunksOwnMean() {
        String prompt = "(cat:1.3) " + "dog ".repeat(79) + "(cat:0.6)"; // 81 tokens: 75 + 6
        float[] z = encode(2, 1, prompt);
        float[] w0 = weights();
        w0[1] = 1.3f;
        float[] w1 = weights();
        w1[6] = 0.6f; // bos, 5 dogs, cat
        float[] c0 = plain(1, tok.encode("cat " + "dog ".repeat(74)).ids());
        float[] c1 = plain(1, tok.encode("dog ".repeat(5) + "cat").ids());
        assertClose(emphasised(c0, w0), slice(z, 0), 1e-5, "chunk 0");
        assertClose(emphasised(c1, w1), slice(z, 1), 1e-5, "chunk 1");
    }

    @Test
    void shorterPromptsArePaddedWithEmptyChunksAndLongerOnesCut() {
        String lng = "cat ".repeat(80);
        float[] z = encode(3, 1, "a dog", lng); // (2, 231, D)
        float[] empty = plain(1, tok.encode("").ids());
        float[] dog = plain(1, tok.encode("a dog").ids());
        int per = 3 * 77 * dim;
        float[] row0 = Arrays.copyOfRange(z, 0, per);
        float[] row1 = Arrays.copyOfRange(z, per, 2 * per);
        assertClose(dog, slice(row0, 0), 1e-5, "short prompt");
        assertClose(empty, slice(row0, 1), 1e-5, "padding chunk 1");
        assertClose(empty, slice(row0, 2), 1e-5, "padding chunk 2");
        assertClose(plain(1, tok.encode("cat ".repeat(5)).ids()), slice(row1, 1), 1e-5, "long prompt chunk 2");
        assertClose(empty, slice(row1, 2), 1e-5, "long prompt padding");
        // asked for fewer chunks than a prompt has: its first ones
        float[] cut = encode(1, 1, lng);
        assertClose(plain(1, tok.encode("cat ".repeat(75)).ids()), cut, 1e-5, "cut to one chunk");
    }
}
