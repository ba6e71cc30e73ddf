package org.diffusionbot.worker.engine.pipeline;

import static org.diffusionbot.worker.engine.Scalars.mul;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.Collections;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Set;
import java.util.stream.IntStream;
import org.diffusionbot.worker.engine.models.AutoencoderKL;
import org.diffusionbot.worker.engine.random.TorchGenerator;
import org.diffusionbot.worker.engine.schedulers.Scheduler;

/**
 * The latents a run starts from, drawn exactly as diffusers draws them with one {@code
 * torch.Generator("cpu").manual_seed(seed)} per image: txt2img {@code randn(1, C, h, w)} times
 * {@code init_noise_sigma}; img2img the VAE latent sample ({@code mean + std·randn}) scaled, then
 * noise added at the first remaining timestep. Drawn on the CPU and moved, so a seed means the same
 * image on every device.
 */
final class InitialLatents {
    private InitialLatents() {
    }

    /**
     * txt2img: each row's generator draws its noise. Rows of distinct generators draw in parallel (each generator's
     * stream is its own, so the values are those of drawing one row after the other: about 0.4 ms of host time per
     * 64x64 row, 3–4 ms of an 8-job batch's "latents" phase on one thread); a generator that serves several rows draws
     * them in row order on one thread, as diffusers would.
     *
     * @param one the shape of one row's latents (1, C, h, w)
     * @return (rows, C, h, w) float32, owned by {@code run}
     */
    static NDArray txt2img(NDManager run, Scheduler sched, TorchGenerator[] gens, Shape one) {
        int per = (int) one.size();
        float[] all = new float[per * gens.length];
        IntStream rows = IntStream.range(0, gens.length);
        if (gens.length > 1 && distinct(gens)) {
            rows = rows.parallel();
        }
        rows.forEach(i -> System.arraycopy(gens[i].randn(one.getShape()), 0, all, i * per, per));
        return mul(run.create(all, new Shape(gens.length, one.get(1), one.get(2), one.get(3))), sched.initNoiseSigma());
    }

    /** Whether no generator instance serves two rows. */
    static boolean distinct(TorchGenerator[] gens) {
        Set<TorchGenerator> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        for (TorchGenerator g : gens) {
            if (!seen.add(g)) {
                return false;
            }
        }
        return true;
    }

    /**
     * img2img: VAE-encodes each request's init image once, samples its latent per row (row's
     * generator), scales, then adds noise (every row's generator again, in row order) at step {@code first}.
     *
     * @param one the shape of one row's latents (1, C, h, w)
     * @return (rows, C, h, w) float32, owned by {@code run}
     */
    static NDArray img2img(NDManager run, Scheduler sched, int first, BatchRows rows, AutoencoderKL vae, Shape one) {
        double scaling = vae.config().scalingFactor();
        TorchGenerator[] gens = rows.generators();
        try (NDManager tmp = run.newSubManager()) {
            Map<Integer, NDArray[]> dist = new HashMap<>();
            NDList latents = new NDList();
            NDList noises = new NDList();
            for (int i = 0; i < rows.size(); i++) {
                int r = rows.requestOf(i);
                NDArray[] md = dist.computeIfAbsent(r, k -> {
                    InitImage im = rows.init(k);
                    NDArray img = tmp.create(im.chw(), new Shape(1, 3, im.height(), im.width()))
                            .toType(vae.dtype(), false);
                    var d = vae.encode(tmp, img);
                    return new NDArray[] {d.mean().toType(DataType.FLOAT32, false), d.std().toType(DataType.FLOAT32, false)};
                });
                // diffusers: latent_dist.sample(generator) = mean + std * randn_tensor(mean.shape, generator)
                NDArray sample = tmp.create(gens[i].randn(one.getShape()), one);
                latents.add(mul(md[0].add(md[1].mul(sample)), (float) scaling));
            }
            for (TorchGenerator g : gens) {
                noises.add(tmp.create(g.randn(one.getShape()), one));
            }
            NDArray x = sched.addNoise(NDArrays.concat(latents, 0), NDArrays.concat(noises, 0), first);
            x.attach(run);
            return x;
        }
    }
}
