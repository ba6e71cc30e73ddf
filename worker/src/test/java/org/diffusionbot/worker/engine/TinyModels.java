package org.diffusionbot.worker.engine;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import java.net.URISyntaxException;
import java.nio.file.Path;
import org.diffusionbot.worker.engine.loaders.ModelLoader;
import org.diffusionbot.worker.engine.pipeline.StableDiffusionPipeline;

/** The tiny SD 1.5 reference model, loaded once per JVM and shared by the engine tests. */
public final class TinyModels {
    private static StableDiffusionPipeline folder;
    private static StableDiffusionPipeline singleFile;

    private TinyModels() {}

    public static Path root() {
        try {
            return Path.of(TinyModels.class.getResource("/reference/tiny-sd15").toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    public static Path folderPath() {
        return root().resolve("model");
    }

    public static Path singleFilePath() {
        return root().resolve("single-file.safetensors");
    }

    /** The diffusers-folder pipeline (never closed: shared for the JVM's lifetime). */
    public static synchronized StableDiffusionPipeline folder() {
        if (folder == null) {
            folder = ModelLoader.load(folderPath(), DataType.FLOAT32, Device.cpu());
        }
        return folder;
    }

    /** The single-file pipeline, configs inferred from the tensor shapes. */
    public static synchronized StableDiffusionPipeline singleFile() {
        if (singleFile == null) {
            singleFile = ModelLoader.load(singleFilePath(), DataType.FLOAT32, Device.cpu());
        }
        return singleFile;
    }
}
