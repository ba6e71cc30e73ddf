package org.diffusionbot.worker.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.diffusionbot.common.Sampler;
import org.diffusionbot.common.Schedule;
import org.diffusionbot.common.messages.WorkerHeartbeat.ModelDefaults;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A model's sidecar file: NAME.json / NAME.yaml / NAME.yml beside the checkpoint. */
class ModelSidecarTest {
    @TempDir
    Path dir;

    private Path checkpoint(String name) throws Exception {
        return Files.writeString(dir.resolve(name), "not read");
    }

    @Test
    void yamlBesideASingleFile() throws Exception {
        Path ckpt = checkpoint("lightning.safetensors");
        Files.writeString(dir.resolve("lightning.yaml"), """
                # Juggernaut Lightning: 4-6 steps, euler, sgm uniform, cfg 1-2
                sampler: euler
                schedule: trailing
                steps: 5
                cfg: 1.5
                """);
        assertEquals(Optional.of(new ModelDefaults("jl", Sampler.EULER, Schedule.TRAILING, 5, 1.5)),
                ModelSidecar.read("jl", ckpt));
    }

    @Test
    void jsonBesideADiffusersFolderWithSomeKeys() throws Exception {
        Path folder = Files.createDirectory(dir.resolve("lcm-model"));
        Files.writeString(dir.resolve("lcm-model.json"), "{\"sampler\": \"lcm\", \"steps\": 6}");
        assertEquals(Optional.of(new ModelDefaults("m", Sampler.LCM, null, 6, null)), ModelSidecar.read("m", folder));
    }

    @Test
    void noSidecarOrAnEmptyOneRecommendsNothing() throws Exception {
        Path ckpt = checkpoint("plain.safetensors");
        assertEquals(Optional.empty(), ModelSidecar.read("p", ckpt));
        Files.writeString(dir.resolve("plain.yml"), "# nothing yet\n");
        assertEquals(Optional.empty(), ModelSidecar.read("p", ckpt));
        assertEquals(Optional.empty(), ModelSidecar.read("x", dir.resolve("nonexistent.safetensors")));
    }

    @Test
    void mistakesNameTheFileAndTheProblem() throws Exception {
        Path ckpt = checkpoint("bad.safetensors");
        Path side = dir.resolve("bad.yaml");
        Files.writeString(side, "stpes: 4\n");
        assertEquals(side + ": unknown key 'stpes' (the keys are sampler, schedule, steps, cfg)", error(ckpt));
        Files.writeString(side, "sampler: dpm_fast\n");
        assertTrue(error(ckpt).startsWith(side + ": unknown sampler 'dpm_fast'; choose one of ddim"), error(ckpt));
        Files.writeString(side, "sampler: euler_a\nschedule: karras\n");
        assertEquals(side + ": sampler euler_a cannot use schedule karras (it takes default, trailing)", error(ckpt));
        Files.writeString(side, "steps: 4.5\n");
        assertEquals(side + ": steps must be a whole number, got 4.5", error(ckpt));
        Files.writeString(side, "sampler: lcm\nsteps: 80\n");
        assertEquals(side + ": sampler lcm takes at most 50 steps, got 80", error(ckpt));
        Files.writeString(side, "cfg: 45\n");
        assertEquals(side + ": cfg must be between 0 and 30, got 45.0", error(ckpt));
        Files.writeString(side, "- euler\n");
        assertTrue(error(ckpt).startsWith(side + ": expected keys"), error(ckpt));
        Files.writeString(side, "sampler: [euler\n");
        assertTrue(error(ckpt).startsWith(side + ": "), error(ckpt));
        Files.writeString(side, "sampler: euler\n");
        Files.writeString(dir.resolve("bad.json"), "{}");
        assertTrue(error(ckpt).endsWith("sidecar files [" + dir.resolve("bad.json") + ", " + side + "]: keep one"),
                error(ckpt));
    }

    private static String error(Path ckpt) {
        return assertThrows(IllegalArgumentException.class, () -> ModelSidecar.read("m", ckpt)).getMessage();
    }
}
