package org.diffusionbot.worker.engine.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import java.util.HashMap;
import java.util.Map;
import org.diffusionbot.worker.engine.cuda.NativeOps;
import org.diffusionbot.worker.engine.lora.LoraPatcher;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link PipelineOptions#fromSettings()} reads the layout, LoRA-cache and VAE-graph switches ({@code SD_CHANNELS_LAST},
 * {@code SD_LORA_CACHE_MB}, {@code SD_VAE_GRAPHS}) along with the others, as docs/GPU.md describes them, so that model
 * and patcher constructors read no settings.
 */
class PipelineOptionsTest {
    private static final String[] NAMES = {"SD_CUDA_GRAPHS", "SD_CUDA_GRAPHS_MAX", "SD_VAE_GRAPHS", "SD_DECODE_BATCH",
        "SD_ASYNC_PREVIEWS", "SD_CHANNELS_LAST", "SD_LORA_CACHE_MB", "SD_PROMPT_KV"};
    private final Map<String, String> saved = new HashMap<>();

    @BeforeEach
    void save() {
        for (String n : NAMES) {
            saved.put(n, System.getProperty(n));
        }
    }

    @AfterEach
    void restore() {
        saved.forEach((n, v) -> {
            if (v == null) {
                System.clearProperty(n);
            } else {
                System.setProperty(n, v);
            }
        });
    }

    @Test
    void unsetGivesTheDefaults() {
        for (String n : NAMES) {
            Assumptions.assumeTrue(System.getenv(n) == null, n + " is set in the environment");
            System.clearProperty(n);
        }
        PipelineOptions o = PipelineOptions.fromSettings();
        assertEquals(PipelineOptions.DEFAULTS, o);
        assertTrue(o.channelsLast());
        assertTrue(o.asyncPreviews(), "callbacks one step late, x0 copied ahead, unless SD_ASYNC_PREVIEWS=0");
        assertTrue(o.vaeGraphsWanted(), "the VAE decoder's CUDA graphs are on where the UNet's are");
        assertEquals(1, o.decodeBatch(), "one image per VAE call unless SD_DECODE_BATCH says more");
        assertTrue(o.promptKv(), "the prompt K|V made once per denoising loop unless SD_PROMPT_KV=0");
        assertEquals(LoraPatcher.CACHE_MB, o.loraCacheMb());
        assertEquals(1024L << 20, o.loraCacheBytes());
    }

    @Test
    void theSettingsAreCarried() {
        System.setProperty("SD_CUDA_GRAPHS", "0");
        System.setProperty("SD_CUDA_GRAPHS_MAX", "5");
        System.setProperty("SD_VAE_GRAPHS", "0");
        System.setProperty("SD_DECODE_BATCH", "2");
        System.setProperty("SD_ASYNC_PREVIEWS", "0");
        System.setProperty("SD_CHANNELS_LAST", "0");
        System.setProperty("SD_LORA_CACHE_MB", " 256 ");
        System.setProperty("SD_PROMPT_KV", "0");
        assertEquals(new PipelineOptions(false, 5, false, 2, false, false, 256, false), PipelineOptions.fromSettings());
        assertEquals(new PipelineOptions(false, 5, false, 2, false, false, 256, true),
                PipelineOptions.fromSettings().withPromptKv(true), "withPromptKv changes the prompt K|V alone");
        System.setProperty("SD_PROMPT_KV", "1");
        assertTrue(PipelineOptions.fromSettings().promptKv());

        System.setProperty("SD_CHANNELS_LAST", "1");
        System.setProperty("SD_LORA_CACHE_MB", "0");
        PipelineOptions o = PipelineOptions.fromSettings();
        assertTrue(o.channelsLast());
        assertEquals(0, o.loraCacheMb(), "0: no LoRA factors kept on the device");
    }

    @Test
    void theVaeDecodersGraphsGoWithTheUNetsAndSdVaeGraphsZeroTurnsThemOffAlone() {
        System.setProperty("SD_CUDA_GRAPHS", "1");
        System.setProperty("SD_VAE_GRAPHS", "0");
        PipelineOptions o = PipelineOptions.fromSettings();
        assertTrue(o.cudaGraphs());
        assertFalse(o.vaeGraphs());
        assertFalse(o.vaeGraphsWanted());

        System.setProperty("SD_VAE_GRAPHS", "1");
        assertTrue(PipelineOptions.fromSettings().vaeGraphsWanted());

        System.setProperty("SD_CUDA_GRAPHS", "0");
        o = PipelineOptions.fromSettings();
        assertTrue(o.vaeGraphs(), "SD_VAE_GRAPHS itself is on");
        assertFalse(o.vaeGraphsWanted(), "SD_CUDA_GRAPHS=0 turns every graph off");
        assertEquals(o.withVaeGraphs(false).withVaeGraphs(true), o);
    }

    @Test
    void aCacheSizeThatIsNotANumberGivesTheDefaultAndANegativeOneNone() {
        System.setProperty("SD_LORA_CACHE_MB", "lots");
        assertEquals(LoraPatcher.CACHE_MB, PipelineOptions.fromSettings().loraCacheMb());
        System.setProperty("SD_LORA_CACHE_MB", "");
        assertEquals(LoraPatcher.CACHE_MB, PipelineOptions.fromSettings().loraCacheMb());
        System.setProperty("SD_LORA_CACHE_MB", "-5");
        assertEquals(0, PipelineOptions.fromSettings().loraCacheMb());
        assertThrows(IllegalArgumentException.class, () -> PipelineOptions.DEFAULTS.withLoraCacheMb(-1));
    }

    @Test
    void settingsReadLaterDoNotChangeOptionsMadeEarlier() {
        System.setProperty("SD_CHANNELS_LAST", "0");
        PipelineOptions o = PipelineOptions.fromSettings();
        System.setProperty("SD_CHANNELS_LAST", "1");
        assertFalse(o.channelsLast());
        assertTrue(PipelineOptions.fromSettings().channelsLast());
    }

    @Test
    void withoutTheNativeLibraryNoPartIsChannelsLast() {
        Assumptions.assumeFalse(NativeOps.available(), "the native library is loaded");
        assertFalse(PipelineOptions.DEFAULTS.channelsLastFor(DataType.FLOAT16, Device.gpu()));
        assertFalse(PipelineOptions.DEFAULTS.channelsLastFor(DataType.FLOAT32, Device.gpu()));
    }

    @Test
    void float32PartsAndTheCpuAreNeverChannelsLast() {
        // whatever the library: float32 parts stay NCHW (no float32 NHWC kernels), the CPU row-major
        assertFalse(PipelineOptions.DEFAULTS.channelsLastFor(DataType.FLOAT32, Device.gpu()));
        assertFalse(PipelineOptions.DEFAULTS.channelsLastFor(DataType.FLOAT16, Device.cpu()));
        assertFalse(PipelineOptions.DEFAULTS.channelsLastFor(DataType.FLOAT32, Device.cpu()));
    }
}
