package org.diffusionbot.common.messages;

import java.time.Instant;
import java.util.List;

/** Published by every worker every few seconds to the heartbeat exchange. */
public record WorkerHeartbeat(
        String workerId,
        String host,
        String device,
        List<String> models,
        State state,
        int jobsInHand,
        long jobsDone,
        double stepsPerSecond,
        Instant sentAt) implements Message {

    /** What the worker is doing. */
    public enum State { STARTING, IDLE, BUSY, PAUSED, STOPPING }

    public WorkerHeartbeat {
        Checks.notBlank("worker_id", workerId, 200);
        Checks.notBlank("host", host, 255);
        Checks.notBlank("device", device, 200);
        models = Checks.list("models", models, 100);
        Checks.notNull("state", state);
        Checks.range("jobs_in_hand", jobsInHand, 0, 10_000);
        Checks.notNull("sent_at", sentAt);
    }
}
