package org.diffusionbot.worker.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.worker.engine.TinyModels;
import org.junit.jupiter.api.Test;

class ImagineArgsTest {
    private static final String MODEL = TinyModels.folderPath().toString();

    private static String[] with(String... extra) {
        String[] base = {"--model", MODEL, "--prompt", "a cat", "--out", "/tmp/x.png"};
        String[] all = new String[base.length + extra.length];
        System.arraycopy(base, 0, all, 0, base.length);
        System.arraycopy(extra, 0, all, base.length, extra.length);
        return all;
    }

    private static String error(String... args) {
        return assertThrows(IllegalArgumentException.class, () -> ImagineArgs.parse(args)).getMessage();
    }

    @Test
    void defaultsAndAllFlags() {
        ImagineArgs d = ImagineArgs.parse(with());
        assertEquals(30, d.steps());
        assertEquals(7.0, d.cfg());
        assertEquals(Sampler.DEFAULT, d.sampler());
        assertNull(d.width());
        assertNull(d.height());
        assertEquals(1024, d.width(1024));
        assertEquals(512, d.height(512));
        assertEquals(1, d.count());
        assertNull(d.strength());
        assertTrue(d.seed() >= 0 && d.seed() <= 0xFFFFFFFFL);
        ImagineArgs a = ImagineArgs.parse(with("--negative", "blurry", "--seed=42", "--steps", "20", "--cfg", "5.5",
                "--sampler", "euler_a", "--width", "640", "--height", "384", "--clip-skip", "2", "--count", "3",
                "--device", "cpu", "--prediction", "v_prediction"));
        assertEquals("blurry", a.negative());
        assertEquals(42, a.seed());
        assertEquals(Sampler.EULER_A, a.sampler());
        assertEquals(640, a.width());
        assertEquals(384, a.height());
        assertEquals(640, a.width(1024));
        assertEquals(3, a.count());
        assertEquals(Path.of("/tmp/x-1.png"), a.outFor(0));
        assertEquals(Path.of("/tmp/x-3.png"), a.outFor(2));
        assertEquals(Path.of("/tmp/x.png"), d.outFor(0));
    }

    @Test
    void badValuesGiveOneClearSentence() {
        assertEquals("steps must be between 1 and 150, got 0", error(with("--steps", "0")));
        assertEquals("steps must be between 1 and 150, got 151", error(with("--steps", "151")));
        assertEquals("cfg must be between 0 and 30, got 31.0", error(with("--cfg", "31")));
        assertEquals("width must be a multiple of 8 between 64 and 2048, got 100", error(with("--width", "100")));
        assertEquals("height must be a multiple of 8 between 64 and 2048, got 32", error(with("--height", "32")));
        assertTrue(error(with("--sampler", "dpm_fast")).startsWith("unknown sampler 'dpm_fast'; choose one of ddim"));
        assertEquals("unknown flag --size", error(with("--size", "5")));
        assertEquals("--out is required", error("--model", MODEL, "--prompt", "x"));
        assertEquals("--prompt is required", error("--model", MODEL, "--out", "a.png"));
        assertEquals("model /nonexistent/model does not exist",
                error("--model", "/nonexistent/model", "--prompt", "x", "--out", "a.png"));
        assertEquals("--steps must be a whole number, got 'ten'", error(with("--steps", "ten")));
        assertEquals("--steps needs a value", error(with("--steps")));
        assertEquals("--strength needs --init-image", error(with("--strength", "0.5")));
        assertEquals("--device must be cpu or gpu, got tpu", error(with("--device", "tpu")));
        assertEquals("count must be between 1 and 4, got 5", error(with("--count", "5")));
        assertEquals("seed must be between 0 and 4294967295, got -1", error(with("--seed", "-1")));
        assertEquals("--out must name a .png file, got x.jpg", error("--model", MODEL, "--prompt", "x", "--out", "x.jpg"));
    }
}
