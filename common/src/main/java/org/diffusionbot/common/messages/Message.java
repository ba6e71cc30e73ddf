package org.diffusionbot.common.messages;

import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;

/**
 * Every message that crosses RabbitMQ. Encoded as JSON by {@link MessageCodec} with a {@code type}
 * and a {@code schema} version beside the record's fields (snake_case).
 */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, property = "type")
@JsonSubTypes({
    @JsonSubTypes.Type(value = JobRequest.class, name = "job_request"),
    @JsonSubTypes.Type(value = JobProgress.class, name = "job_progress"),
    @JsonSubTypes.Type(value = JobResult.class, name = "job_result"),
    @JsonSubTypes.Type(value = JobFailure.class, name = "job_failure"),
    @JsonSubTypes.Type(value = WorkerHeartbeat.class, name = "worker_heartbeat"),
    @JsonSubTypes.Type(value = CancelJob.class, name = "cancel_job"),
})
public sealed interface Message permits JobRequest, JobProgress, JobResult, JobFailure, WorkerHeartbeat, CancelJob {
    /** The wire format version this build reads and writes. */
    int SCHEMA_VERSION = 1;
}
