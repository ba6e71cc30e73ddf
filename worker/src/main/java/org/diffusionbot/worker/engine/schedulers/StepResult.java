package org.diffusionbot.worker.engine.schedulers;

import ai.djl.ndarray.NDArray;

/**
 * The result of one {@link Scheduler#step}: the sample for the next step and the current estimate
 * of the clean latent x0 (for progress previews). Both arrays belong to the caller (attached to the
 * manager of the sample passed to {@code step}).
 */
public record StepResult(NDArray prevSample, NDArray x0) {}
