/**
 * The neural networks of Stable Diffusion 1.x/2.x as plain Java over DJL NDArray operations,
 * matching Hugging Face diffusers / transformers numerically: {@link
 * org.diffusionbot.worker.engine.models.ClipTextEncoder}, {@link
 * org.diffusionbot.worker.engine.models.UNet2DConditionModel}, {@link
 * org.diffusionbot.worker.engine.models.AutoencoderKL}, their configs, and {@link
 * org.diffusionbot.worker.engine.models.DiffusersLoader} for the diffusers folder layout.
 *
 * <p>Memory: parameters live in a long-lived manager; every forward call runs in a sub-manager of
 * the caller's manager (inputs temporarily attached to it), so intermediates are freed when the call
 * returns and only the result stays with the caller. Forward passes make no host/device syncs.
 */
package org.diffusionbot.worker.engine.models;
