package org.diffusionbot.worker.doctor;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Map;
import java.util.SplittableRandom;
import org.diffusionbot.worker.engine.io.SafetensorsWriter;

/**
 * The doctor's tiny Stable Diffusion 1.x model, written as a diffusers folder: the configs and tensor names and
 * shapes of the test suite's tiny SD 1.5 (resource {@code doctor/tiny-sd15.json}; UNet 32-64 channels, CLIP hidden
 * 32, VAE 16-32 channels, 5.3 M parameters), with float32 weights drawn from a seeded generator the way PyTorch
 * initialises its layers (linear and convolution weights uniform in ±1/√fan_in, norm scales 1, biases 0), and the
 * bundled CLIP vocabulary. A model in the real layout, so it goes through the worker's own loader and pipeline.
 */
final class TinyModel {
    private static final ObjectMapper JSON = new ObjectMapper();

    private TinyModel() {
    }

    /** Writes the model into {@code dir} (created) and returns it. */
    static Path write(Path dir, long seed) throws IOException {
        JsonNode manifest;
        try (InputStream in = resource("doctor/tiny-sd15.json")) {
            manifest = JSON.readTree(in);
        }
        Files.createDirectories(dir.resolve("scheduler"));
        JSON.writeValue(dir.resolve("model_index.json").toFile(), manifest.get("model_index"));
        JSON.writeValue(dir.resolve("scheduler/scheduler_config.json").toFile(), manifest.get("scheduler"));
        SplittableRandom random = new SplittableRandom(seed);
        for (String component : new String[] {"text_encoder", "unet", "vae"}) {
            JsonNode c = manifest.get(component);
            Path cdir = Files.createDirectories(dir.resolve(component));
            JSON.writeValue(cdir.resolve("config.json").toFile(), c.get("config"));
            SafetensorsWriter w = new SafetensorsWriter();
            for (Iterator<Map.Entry<String, JsonNode>> it = c.get("tensors").fields(); it.hasNext();) {
                Map.Entry<String, JsonNode> t = it.next();
                long[] shape = new long[t.getValue().size()];
                for (int i = 0; i < shape.length; i++) {
                    shape[i] = t.getValue().get(i).asLong();
                }
                w.add(t.getKey(), "F32", shape, values(t.getKey(), shape, random));
            }
            w.write(cdir.resolve(c.get("file").asText()));
        }
        Path tok = Files.createDirectories(dir.resolve("tokenizer"));
        for (String f : new String[] {"vocab.json", "merges.txt"}) {
            try (InputStream in = resource("clip-tokenizer/" + f)) {
                Files.copy(in, tok.resolve(f));
            }
        }
        return dir;
    }

    /** Little-endian float32 values of one tensor, as PyTorch's default initialisation draws them. */
    private static byte[] values(String name, long[] shape, SplittableRandom random) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        ByteBuffer b = ByteBuffer.allocate(Math.toIntExact(n * 4)).order(ByteOrder.LITTLE_ENDIAN);
        if (shape.length >= 2) {
            double bound = 1 / Math.sqrt((double) n / shape[0]);
            for (long i = 0; i < n; i++) {
                b.putFloat((float) (random.nextDouble(-bound, bound)));
            }
        } else {
            float v = name.endsWith(".weight") ? 1f : 0f; // norm scales 1; biases 0
            for (long i = 0; i < n; i++) {
                b.putFloat(v);
            }
        }
        return b.array();
    }

    private static InputStream resource(String name) {
        InputStream in = TinyModel.class.getClassLoader().getResourceAsStream(name);
        if (in == null) {
            throw new UncheckedIOException(new IOException("missing resource " + name + " in worker.jar"));
        }
        return in;
    }
}
