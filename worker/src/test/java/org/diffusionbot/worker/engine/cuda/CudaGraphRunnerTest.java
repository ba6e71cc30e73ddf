package org.diffusionbot.worker.engine.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link CudaGraphRunner}'s logic on the CPU, with {@link FakeGraphBackend} in place of the library's CUDA graphs:
 * when it captures, what it keys graphs by, how it copies inputs and hands out outputs, the least-recently-used
 * limit, the shared pool, and the eager fallbacks. What it cannot show: that a capture on the device works (the GPU
 * bench's {@code --check} does).
 */
class CudaGraphRunnerTest {
    private NDManager m;
    private FakeGraphBackend fake;
    private GraphPool pool;
    /** Eager calls of the test function (warm-ups, captures, runs without graphs), not the replays' emulation. */
    private int eagerCalls;

    /** {a + b, a - b}: two inputs (b may be absent: then {a, a}), two outputs. */
    private final CudaGraphRunner.Forward sumAndDifference = (owner, in) -> {
        if (!fake.replaying()) {
            eagerCalls++;
        }
        NDArray b = in[1] == null ? in[0].zerosLike() : in[1];
        NDArray sum = in[0].add(b);
        NDArray diff = in[0].sub(b);
        sum.attach(owner);
        diff.attach(owner);
        if (in[1] == null) {
            b.close();
        }
        return new NDArray[] {sum, diff};
    };

    @BeforeEach
    void setUp() {
        m = NDManager.newBaseManager(Device.cpu());
        fake = new FakeGraphBackend();
        pool = new GraphPool(fake);
    }

    @AfterEach
    void tearDown() {
        m.close();
    }

    private CudaGraphRunner runner(boolean wanted, int max) {
        return new CudaGraphRunner("the test function", Device.cpu(), wanted, max, pool, sumAndDifference);
    }

    private NDArray array(float... v) {
        return m.create(v);
    }

    private static float[] values(NDArray a) {
        return a.toType(DataType.FLOAT32, false).toFloatArray();
    }

    @Test
    void notWantedEveryCallIsEagerAndNoGraphCallIsMade() {
        try (CudaGraphRunner r = runner(false, 3)) {
            assertFalse(r.enabled());
            NDArray[] out = r.run(m, array(1, 2), array(10, 20));
            assertArrayEquals(new float[] {11, 22}, values(out[0]));
            assertArrayEquals(new float[] {-9, -18}, values(out[1]));
            assertEquals(1, eagerCalls);
            assertEquals(List.of(), fake.calls);
            assertEquals(0, r.graphCount());
        }
    }

    @Test
    void theFirstCallOfASignatureWarmsUpCapturesAndReplaysAndLaterCallsOnlyReplay() {
        try (CudaGraphRunner r = runner(true, 3)) {
            assertTrue(r.enabled());
            NDArray[] first = r.run(m, array(1, 2), array(10, 20));
            assertArrayEquals(new float[] {11, 22}, values(first[0]));
            assertArrayEquals(new float[] {-9, -18}, values(first[1]));
            // the warm-up on the side stream, the cache of its memory released, the capture, then the call's replay
            assertEquals(List.of("create 1 share 0", "sync", "enter 1", "releaseCache", "capture 1", "exit 1",
                    "replay 1"), fake.calls);
            assertEquals(2, eagerCalls, "warm-up and capture");

            fake.calls.clear();
            NDArray[] second = r.run(m, array(3, 4), array(30, 40));
            assertArrayEquals(new float[] {33, 44}, values(second[0]), "the new inputs were copied into the graph's");
            assertArrayEquals(new float[] {-27, -36}, values(second[1]));
            assertEquals(List.of("replay 1"), fake.calls);
            assertEquals(2, eagerCalls, "no eager call once captured");
            assertEquals(1, r.graphCount());
        }
    }

    @Test
    void theOutputsAreViewsOfTheGraphsOutputsThatTheNextReplayOverwrites() {
        try (CudaGraphRunner r = runner(true, 3)) {
            NDArray[] first;
            try (NDManager call = m.newSubManager()) {
                first = r.run(call, array(1, 2), array(10, 20));
                assertSame(call, first[0].getManager(), "owned by the caller");
                float[] read = values(first[0]); // read before the next call: what a caller must do
                r.run(m, array(5, 5), array(5, 5));
                assertArrayEquals(new float[] {11, 22}, read);
                assertArrayEquals(new float[] {10, 10}, values(first[0]), "the next replay wrote into the same memory");
            }
            // closing the caller's views left the graph's outputs alive
            assertArrayEquals(new float[] {7, 9}, values(r.run(m, array(3, 4), array(4, 5))[0]));
        }
    }

    @Test
    void inputsAreNeverWritten() {
        try (CudaGraphRunner r = runner(true, 3)) {
            NDArray a = array(1, 2);
            NDArray b = array(10, 20);
            r.run(m, a, b);
            r.run(m, a, b);
            assertArrayEquals(new float[] {1, 2}, values(a));
            assertArrayEquals(new float[] {10, 20}, values(b));
        }
    }

    @Test
    void theSignatureIsEveryInputsShapeAndTypeInOrderWithAbsentOnesMarked() {
        NDArray f32 = m.zeros(new Shape(2, 4));
        NDArray f16 = m.zeros(new Shape(2, 4), DataType.FLOAT16);
        NDArray wide = m.zeros(new Shape(2, 8));
        NDArray one = m.zeros(new Shape(1));
        assertEquals("(2, 4) float32|(1) float32|-", CudaGraphRunner.signature(new NDArray[] {f32, one, null}));
        String base = CudaGraphRunner.signature(new NDArray[] {f32, one});
        assertNotEquals(base, CudaGraphRunner.signature(new NDArray[] {f16, one}), "type");
        assertNotEquals(base, CudaGraphRunner.signature(new NDArray[] {wide, one}), "shape");
        assertNotEquals(base, CudaGraphRunner.signature(new NDArray[] {one, f32}), "order");
        assertNotEquals(base, CudaGraphRunner.signature(new NDArray[] {f32, null}), "an absent input");
        assertEquals(base, CudaGraphRunner.signature(new NDArray[] {m.ones(new Shape(2, 4)), m.ones(new Shape(1))}),
                "values do not count");
    }

    @Test
    void eachSignatureHasItsOwnGraphAndAnAbsentInputIsNotCopied() {
        try (CudaGraphRunner r = runner(true, 3)) {
            r.run(m, array(1, 2), array(10, 20));
            assertArrayEquals(new float[] {1, 2, 3}, values(r.run(m, array(1, 2, 3), null)[0]));
            assertArrayEquals(new float[] {4, 5, 6}, values(r.run(m, array(4, 5, 6), null)[1]));
            assertArrayEquals(new float[] {11, 22}, values(r.run(m, array(1, 2).toType(DataType.FLOAT64, false),
                    array(10, 20).toType(DataType.FLOAT64, false))[0]));
            assertEquals(3, r.graphCount());
            assertEquals(3, fake.count("capture"));
        }
    }

    @Test
    void beyondTheLimitTheLeastRecentlyUsedGraphIsDestroyed() {
        try (CudaGraphRunner r = runner(true, 2)) {
            r.run(m, array(1), array(1)); // graph 1: (1)
            r.run(m, array(1, 2), array(1, 2)); // graph 2: (2)
            r.run(m, array(7), array(1)); // (1) used again: (2) is now the least recently used
            fake.calls.clear();
            r.run(m, array(1, 2, 3), array(1, 2, 3)); // graph 3: (3) evicts (2)
            assertTrue(fake.calls.contains("destroy 2"), fake.calls.toString());
            assertFalse(fake.calls.contains("destroy 1"));
            assertEquals(2, r.graphCount());
            fake.calls.clear();
            assertArrayEquals(new float[] {8}, values(r.run(m, array(7), array(1))[0]));
            assertEquals(List.of("replay 1"), fake.calls, "(1) kept its graph");
            fake.calls.clear();
            r.run(m, array(1, 2), array(1, 2));
            assertEquals("create 4 share 1", fake.calls.get(0), "(2) is captured again");
        }
    }

    @Test
    void everyLaterCaptureSharesThePoolOfALiveGraphAndANewPoolStartsOnlyWhenNoneIsLeft() {
        try (CudaGraphRunner r = runner(true, 1)) {
            r.run(m, array(1), array(1));
            r.run(m, array(1, 2), array(1, 2)); // evicts graph 1 after its capture: shares graph 1's pool
            assertEquals(List.of("create 1 share 0", "create 2 share 1"),
                    fake.calls.stream().filter(c -> c.startsWith("create")).toList());
            r.run(m, array(1, 2, 3), array(1, 2, 3)); // graph 1 destroyed: shares through graph 2
            assertTrue(fake.calls.contains("create 3 share 2"), fake.calls.toString());
            r.clear();
            assertEquals(0, pool.graphCount());
            r.run(m, array(1), array(1));
            assertTrue(fake.calls.contains("create 4 share 0"), "no live graph: a pool of its own");
        }
    }

    @Test
    void twoRunnersOfOnePoolShareItAndClearingOneLeavesTheOthersGraphs() {
        try (CudaGraphRunner unet = runner(true, 3); CudaGraphRunner vae = runner(true, 3)) {
            unet.run(m, array(1), array(1));
            vae.run(m, array(1, 2), array(1, 2));
            assertEquals("create 2 share 1", fake.calls.stream().filter(c -> c.startsWith("create")).toList().get(1),
                    "the second runner's first capture shares the first's pool");
            assertEquals(2, pool.graphCount());
            unet.clear();
            assertEquals(1, pool.graphCount());
            assertEquals(1, vae.graphCount());
            unet.run(m, array(5), array(1));
            assertTrue(fake.calls.contains("create 3 share 2"), "shares through the other runner's live graph");
            assertArrayEquals(new float[] {3, 4}, values(vae.run(m, array(1, 2), array(2, 2))[0]));
        }
    }

    @Test
    void aFailedCaptureDestroysTheGraphsAndRunsEagerlyFromThenOn() {
        try (CudaGraphRunner r = runner(true, 3)) {
            r.run(m, array(1), array(1));
            fake.failNextCaptures(1);
            NDArray[] out = r.run(m, array(1, 2), array(10, 20));
            assertArrayEquals(new float[] {11, 22}, values(out[0]), "the call itself ran eagerly");
            assertFalse(r.enabled());
            assertEquals(0, r.graphCount());
            assertEquals(List.of(), List.copyOf(fake.live()), "the failed graph and the captured one destroyed");
            assertTrue(fake.calls.contains("exit 2"), "the capture stream left");
            assertEquals(0, pool.graphCount());
            fake.calls.clear();
            int before = eagerCalls;
            assertArrayEquals(new float[] {2}, values(r.run(m, array(1), array(1))[0]));
            assertEquals(List.of(), fake.calls, "eager from then on");
            assertEquals(before + 1, eagerCalls);
        }
    }

    @Test
    void nativeOpsTurnedOffRunsEagerlyAndKeepsTheGraphs() {
        try (CudaGraphRunner r = runner(true, 3)) {
            r.run(m, array(1), array(1));
            fake.active = false;
            fake.calls.clear();
            assertFalse(r.enabled());
            assertArrayEquals(new float[] {3}, values(r.run(m, array(1), array(2))[0]));
            assertEquals(List.of(), fake.calls);
            assertEquals(1, r.graphCount());
            fake.active = true;
            assertArrayEquals(new float[] {4}, values(r.run(m, array(2), array(2))[0]));
            assertEquals(List.of("replay 1"), fake.calls);
        }
    }

    @Test
    void turningGraphsOffDestroysThemAndOnCapturesAgain() {
        try (CudaGraphRunner r = runner(true, 3)) {
            r.run(m, array(1), array(1));
            r.setEnabled(false);
            assertEquals(0, r.graphCount());
            assertTrue(fake.calls.contains("destroy 1"));
            fake.calls.clear();
            r.run(m, array(1), array(1));
            assertEquals(List.of(), fake.calls);
            r.setEnabled(true);
            r.run(m, array(1), array(1));
            assertEquals("create 2 share 0", fake.calls.get(0));
        }
    }

    @Test
    void closeDestroysEveryGraph() {
        CudaGraphRunner r = runner(true, 3);
        r.run(m, array(1), array(1));
        r.run(m, array(1, 2), array(1, 2));
        r.close();
        assertEquals(List.of(), List.copyOf(fake.live()));
        assertEquals(0, pool.graphCount());
    }

    /** Whether {@code a} itself (not an equal array) was copied into a graph since the list was cleared. */
    private boolean copiedSame(NDArray a) {
        return fake.copied.stream().anyMatch(c -> c == a);
    }

    @Test
    void copyUnlessTheSameUnchangingArray() {
        NDArray a = array(1, 2);
        NDArray sameShape = array(1, 2);
        assertTrue(CudaGraphRunner.needsCopy(false, a, a), "an input that may change: always copied");
        assertFalse(CudaGraphRunner.needsCopy(true, a, a), "the very array copied last: not again");
        assertTrue(CudaGraphRunner.needsCopy(true, a, sameShape), "another array, even of the same values: copied");
        assertTrue(CudaGraphRunner.needsCopy(true, null, a), "nothing copied yet");
        assertFalse(CudaGraphRunner.needsCopy(true, a, null), "absent");
        assertFalse(CudaGraphRunner.needsCopy(false, null, null), "absent");
    }

    @Test
    void anUnchangingInputIsCopiedIntoEachGraphOnlyWhenAnotherArrayComes() {
        // input 1 unchanging (a conditioning), input 0 not (the latents)
        try (CudaGraphRunner r = new CudaGraphRunner("the test function", Device.cpu(), true, 3, pool,
                sumAndDifference, new boolean[] {false, true})) {
            NDArray cond = array(10, 20);
            assertArrayEquals(new float[] {11, 22}, values(r.run(m, array(1, 2), cond)[0]));
            List<NDArray> first = List.copyOf(fake.copied);
            assertEquals(0, first.stream().filter(c -> c == cond).count(), "taken at capture, not copied again: "
                    + first);
            fake.copied.clear();
            for (int i = 0; i < 3; i++) { // the steps of one loop: the same conditioning
                NDArray x = array(i, i);
                assertArrayEquals(new float[] {10 + i, 20 + i}, values(r.run(m, x, cond)[0]));
                assertEquals(1, fake.copied.size(), "only the latents");
                assertSame(x, fake.copied.get(0));
                fake.copied.clear();
            }
            // the next loop: another conditioning of the same shape is copied, and the graph computes with it
            NDArray next = array(100, 200);
            assertArrayEquals(new float[] {101, 202}, values(r.run(m, array(1, 2), next)[0]));
            assertEquals(2, fake.copied.size());
            assertSame(next, fake.copied.get(1));
            fake.copied.clear();
            NDArray sameValues = array(100, 200); // equal values, another array: copied all the same
            r.run(m, array(1, 2), sameValues);
            assertSame(sameValues, fake.copied.get(1));
            fake.copied.clear();
            // back to the first conditioning: copied again (the graph holds the last one's values)
            assertArrayEquals(new float[] {11, 22}, values(r.run(m, array(1, 2), cond)[0]));
            assertSame(cond, fake.copied.get(1));
            assertEquals(1, r.graphCount());
        }
    }

    @Test
    void eachGraphKeepsItsOwnRecordOfTheUnchangingArraysItHolds() {
        // x + sum(cond): graphs by x's length, the same conditioning in both
        CudaGraphRunner.Forward shift = (owner, in) -> {
            NDArray y = in[0].add(in[1].sum());
            y.attach(owner);
            return new NDArray[] {y};
        };
        try (CudaGraphRunner r = new CudaGraphRunner("the test function", Device.cpu(), true, 3, pool, shift,
                new boolean[] {false, true})) {
            NDArray cond = array(1, 2);
            NDArray other = array(10, 20);
            r.run(m, array(0, 0), cond); // graph 1 takes cond at capture
            r.run(m, array(0, 0, 0), cond); // graph 2 too
            assertArrayEquals(new float[] {30, 30}, values(r.run(m, array(0, 0), other)[0]));
            fake.copied.clear();
            // graph 2 still holds cond: other is copied into it as well
            assertArrayEquals(new float[] {31, 31, 31}, values(r.run(m, array(1, 1, 1), other)[0]));
            assertTrue(copiedSame(other), "copied into the graph that had not seen it");
            fake.copied.clear();
            assertArrayEquals(new float[] {32, 32}, values(r.run(m, array(2, 2), other)[0]));
            assertFalse(copiedSame(other), "graph 1 holds it already");
            assertEquals(2, r.graphCount());
            // cleared and recaptured: the new graph takes it at capture
            r.clear();
            fake.copied.clear();
            assertArrayEquals(new float[] {33, 33}, values(r.run(m, array(3, 3), other)[0]));
            assertFalse(copiedSame(other));
        }
    }

    @Test
    void aLimitBelowOneIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> runner(true, 0));
    }
}
