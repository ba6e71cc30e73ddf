package org.diffusionbot.worker.engine.models;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.util.ArrayList;
import java.util.List;
import org.diffusionbot.worker.engine.io.Weights;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The VAE matches diffusers' AutoencoderKL on the tiny model. */
class AutoencoderKLTest {
    private static NDManager models;
    private static AutoencoderKL vae;

    @BeforeAll
    static void load() {
        models = NDManager.newBaseManager(Device.cpu());
        VaeConfig cfg = VaeConfig.load(ReferenceData.modelDir().resolve("vae/config.json"));
        try (Weights w = Weights.open(ReferenceData.modelDir().resolve("vae/diffusion_pytorch_model.safetensors"))) {
            vae = new AutoencoderKL(cfg, w, models, DataType.FLOAT32, Device.cpu());
            w.verify();
        }
    }

    @AfterAll
    static void close() {
        models.close();
    }

    @Test
    void decodeMatchesDiffusers() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray img = vae.decode(m, ReferenceData.load(m, "vae_decode.latents"));
            assertEquals(m, img.getManager());
            ReferenceData.assertClose(ReferenceData.load(m, "vae_decode.image"), img, "vae_decode.image");
        }
    }

    @Test
    void encodeMatchesDiffusers() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray image = ReferenceData.load(m, "vae_encode.image");
            vae.encode(m, image); // warm-up: GroupNorm scratch tensors are cached per batch size
            m.getManagedArrays().stream().filter(a -> a != image).forEach(NDArray::close);
            int before = models.getManagedArrays().size();
            AutoencoderKL.LatentDistribution d = vae.encode(m, image);
            assertEquals(3, m.getManagedArrays().size(), "the input, mean and std only");
            assertEquals(m, d.mean().getManager());
            ReferenceData.assertClose(ReferenceData.load(m, "vae_encode.mean"), d.mean(), "vae_encode.mean");
            ReferenceData.assertClose(ReferenceData.load(m, "vae_encode.std"), d.std(), "vae_encode.std");
            assertEquals(before, models.getManagedArrays().size());
        }
    }

    @Test
    void encodeFreesEachBlockInputButNotTheImage() {
        try (NDManager m = NDManager.newBaseManager(Device.cpu())) {
            NDArray image = ReferenceData.load(m, "vae_encode.image");
            List<NDArray> outputs = new ArrayList<>();
            int blocks = 1 + 4 * 2 + 3 + 1; // conv_in, 4 down-blocks of 2 ResNets, 3 downsamplers, the mid-block
            AutoencoderKL.LatentDistribution d = vae.encode(m, image, x -> {
                for (int i = 0; i < outputs.size(); i++) {
                    assertTrue(outputs.get(i).isReleased(), "block " + i + "'s output once the next block has run");
                }
                assertFalse(x.isReleased(), "block " + outputs.size() + "'s output");
                assertFalse(image.isReleased(), "the image during the encode");
                if (outputs.size() < blocks - 1) { // the mid-block's own intermediates stay in the encode's scope
                    List<NDArray> live = x.getManager().getManagedArrays();
                    assertTrue(live.size() == 2 && live.stream().anyMatch(a -> a == image)
                            && live.stream().anyMatch(a -> a == x), "the encode's scope after block " + outputs.size()
                            + " holds the image and that block's output only (downsamplers' padded copies freed)");
                }
                outputs.add(x);
            });
            assertEquals(blocks, outputs.size());
            outputs.forEach(x -> assertTrue(x.isReleased(), "a block's output after the encode"));
            assertFalse(image.isReleased(), "the image after the encode");
            assertEquals(3, m.getManagedArrays().size(), "the input, mean and std only");
            ReferenceData.assertClose(ReferenceData.load(m, "vae_encode.mean"), d.mean(), "vae_encode.mean");
            ReferenceData.assertClose(ReferenceData.load(m, "vae_encode.std"), d.std(), "vae_encode.std");
        }
    }
}
