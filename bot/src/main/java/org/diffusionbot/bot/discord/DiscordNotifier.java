package org.diffusionbot.bot.discord;

import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import net.dv8tion.jda.api.JDA;
import net.dv8tion.jda.api.components.actionrow.ActionRow;
import net.dv8tion.jda.api.components.buttons.Button;
import net.dv8tion.jda.api.entities.Message;
import net.dv8tion.jda.api.entities.channel.middleman.MessageChannel;
import net.dv8tion.jda.api.exceptions.ErrorResponseException;
import net.dv8tion.jda.api.interactions.InteractionHook;
import net.dv8tion.jda.api.requests.ErrorResponse;
import net.dv8tion.jda.api.utils.FileUpload;
import net.dv8tion.jda.api.utils.messages.MessageCreateBuilder;
import net.dv8tion.jda.api.utils.messages.MessageEditBuilder;
import org.diffusionbot.bot.jobs.JobNotifier;
import org.diffusionbot.bot.jobs.ProgressThrottle;
import org.diffusionbot.db.ImageSafety;
import org.diffusionbot.db.JobRecord;
import org.diffusionbot.db.StoredImage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Shows jobs on Discord: edits the interaction's original response while its token lives (15
 * minutes), and past that posts a new message in the channel that mentions the user.
 */
public final class DiscordNotifier implements JobNotifier {
    private static final Logger LOG = LoggerFactory.getLogger(DiscordNotifier.class);
    /** Edits are not attempted this close to the token's expiry; the channel fallback is used instead. */
    static final Duration TOKEN_MARGIN = Duration.ofSeconds(30);

    private final JDA jda;
    private final Clock clock;

    public DiscordNotifier(JDA jda, Clock clock) {
        this.jda = jda;
        this.clock = clock;
    }

    /** The button under a running job. */
    static ActionRow cancelRow(java.util.UUID jobId) {
        return ActionRow.of(Button.secondary(ButtonIds.cancel(jobId), "Cancel"));
    }

    /**
     * The buttons under a finished job: reroll, info and delete for the job, then V1..Vn (variations) and U1..Un
     * (upscales) for the images at {@code indexes} (at most 5; an image the safety check flagged gets none: nothing
     * is derived from it).
     */
    static List<ActionRow> resultRows(java.util.UUID jobId, List<Integer> indexes) {
        List<ActionRow> rows = new ArrayList<>();
        rows.add(ActionRow.of(Button.secondary(ButtonIds.of(ButtonIds.REROLL, jobId), "🔄 Reroll"),
                Button.secondary(ButtonIds.of(ButtonIds.INFO, jobId), "ℹ️ Info"),
                Button.danger(ButtonIds.of(ButtonIds.DELETE, jobId), "🗑️ Delete")));
        if (!indexes.isEmpty()) {
            List<Button> v = new ArrayList<>();
            List<Button> u = new ArrayList<>();
            for (int i : indexes.subList(0, Math.min(indexes.size(), 5))) {
                v.add(Button.primary(ButtonIds.of(ButtonIds.VARIATION, jobId, i), "V" + (i + 1)));
                u.add(Button.primary(ButtonIds.of(ButtonIds.UPSCALE, jobId, i), "U" + (i + 1)));
            }
            rows.add(ActionRow.of(v));
            rows.add(ActionRow.of(u));
        }
        return rows;
    }

    @Override
    public void progress(JobRecord job, ProgressThrottle.Edit edit) {
        if (!tokenAlive(job)) {
            return; // progress is not worth a channel message
        }
        MessageEditBuilder b = new MessageEditBuilder()
                .setContent(edit.progress().loadingModel() != null
                        ? JobMessages.loading(job, edit.progress().loadingModel(), edit.progress().etaMillis())
                        : JobMessages.progress(job, edit.progress().step(), edit.progress().totalSteps(),
                                edit.progress().etaMillis()))
                .setAllowedMentions(EnumSet.noneOf(Message.MentionType.class))
                .setComponents(cancelRow(job.id()));
        if (edit.preview() != null) {
            b.setFiles(FileUpload.fromData(edit.preview(), "preview.png"));
        }
        hook(job).editOriginal(b.build()).queue(ok -> { }, err -> LOG.debug("progress edit of {} failed: {}",
                job.id(), err.getMessage()));
    }

    /**
     * The images with their parameters and buttons; an image the safety check flagged is left out (withheld) or sent
     * as a spoiler, as the server's setting was when the result was stored, and gets no V/U buttons.
     */
    @Override
    public CompletableFuture<Void> succeeded(JobRecord job, List<StoredImage> images, List<String> notes) {
        String text = JobMessages.succeeded(job, images, notes);
        List<Integer> derivable = images.stream().filter(im -> im.safety() != ImageSafety.FLAGGED)
                .map(StoredImage::index).toList();
        return deliver(job, text, () -> files(images), resultRows(job.id(), derivable));
    }

    @Override
    public CompletableFuture<Void> failed(JobRecord job, String message) {
        boolean cancelled = "cancelled".equals(message) || job.state().name().equals("CANCELLED");
        return deliver(job, JobMessages.failed(job, message, cancelled), List::of, List.of());
    }

    private static List<FileUpload> files(List<StoredImage> images) {
        List<FileUpload> files = new ArrayList<>();
        for (StoredImage im : images) {
            if (im.withheld()) {
                continue;
            }
            String name = "image-" + im.seed() + ".png";
            // a spoiler as Discord documents it (a SPOILER_ file name), and as JDA marks it (is_spoiler)
            files.add(im.spoiler() ? FileUpload.fromData(im.png(), "SPOILER_" + name).asSpoiler()
                    : FileUpload.fromData(im.png(), name));
        }
        return files;
    }

    private CompletableFuture<Void> deliver(JobRecord job, String text, java.util.function.Supplier<List<FileUpload>> files,
            List<ActionRow> rows) {
        if (!tokenAlive(job)) {
            return postInChannel(job, text, files.get(), rows);
        }
        MessageEditBuilder b = new MessageEditBuilder().setContent(text)
                .setAllowedMentions(EnumSet.noneOf(Message.MentionType.class))
                .setFiles(files.get()).setComponents(rows);
        return hook(job).editOriginal(b.build()).submit().handle((ok, err) -> {
            if (err == null) {
                return CompletableFuture.<Void>completedFuture(null);
            }
            Throwable cause = err instanceof java.util.concurrent.CompletionException && err.getCause() != null
                    ? err.getCause() : err;
            if (cause instanceof ErrorResponseException e && tokenGone(e.getErrorResponse())) {
                LOG.info("interaction of job {} is gone ({}); posting in the channel", job.id(), e.getErrorResponse());
                return postInChannel(job, text, files.get(), rows);
            }
            return CompletableFuture.<Void>failedFuture(cause);
        }).thenCompose(f -> f);
    }

    private CompletableFuture<Void> postInChannel(JobRecord job, String text, List<FileUpload> files,
            List<ActionRow> rows) {
        MessageChannel channel = jda.getChannelById(MessageChannel.class, job.channelId());
        if (channel == null) {
            LOG.warn("channel {} of job {} is not visible to the bot; the outcome cannot be shown", job.channelId(),
                    job.id());
            return CompletableFuture.completedFuture(null);
        }
        MessageCreateBuilder b = new MessageCreateBuilder().setContent(text)
                .setAllowedMentions(EnumSet.of(Message.MentionType.USER))
                .mentionUsers(String.valueOf(job.userId()))
                .setFiles(files).setComponents(rows);
        return channel.sendMessage(b.build()).submit().handle((ok, err) -> {
            if (err != null) {
                Throwable cause = err.getCause() != null ? err.getCause() : err;
                if (cause instanceof ErrorResponseException e && (e.getErrorResponse() == ErrorResponse.UNKNOWN_CHANNEL
                        || e.getErrorResponse() == ErrorResponse.MISSING_ACCESS
                        || e.getErrorResponse() == ErrorResponse.MISSING_PERMISSIONS)) {
                    LOG.warn("cannot post the outcome of job {} in channel {}: {}", job.id(), job.channelId(),
                            e.getErrorResponse());
                    return null;
                }
                throw new java.util.concurrent.CompletionException(cause);
            }
            return null;
        });
    }

    private boolean tokenAlive(JobRecord job) {
        return job.interactionToken() != null && job.tokenExpiresAt() != null
                && clock.instant().plus(TOKEN_MARGIN).isBefore(job.tokenExpiresAt());
    }

    private static boolean tokenGone(ErrorResponse r) {
        return r == ErrorResponse.UNKNOWN_WEBHOOK || r == ErrorResponse.INVALID_WEBHOOK_TOKEN
                || r == ErrorResponse.UNKNOWN_INTERACTION || r == ErrorResponse.UNKNOWN_MESSAGE;
    }

    private InteractionHook hook(JobRecord job) {
        return InteractionHook.from(jda, job.interactionToken());
    }
}
