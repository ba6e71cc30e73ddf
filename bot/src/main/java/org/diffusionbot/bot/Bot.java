package org.diffusionbot.bot;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.EnumSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import net.dv8tion.jda.api.JDA;
import net.dv8tion.jda.api.JDABuilder;
import net.dv8tion.jda.api.requests.GatewayIntent;
import net.dv8tion.jda.api.requests.RestConfig;
import net.dv8tion.jda.api.utils.SessionControllerAdapter;
import net.dv8tion.jda.api.utils.Compression;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import org.diffusionbot.bot.discord.Commands;
import org.diffusionbot.bot.discord.DiscordHttpMetrics;
import org.diffusionbot.bot.jobs.FleetGauges;
import org.diffusionbot.bot.jobs.RunHistory;
import org.diffusionbot.bot.service.FleetStatus;
import org.diffusionbot.bot.metrics.BotMetrics;
import org.diffusionbot.common.metrics.Metrics;
import org.diffusionbot.bot.discord.DiscordNotifier;
import org.diffusionbot.bot.discord.InteractionRouter;
import org.diffusionbot.bot.service.AdminService;
import org.diffusionbot.bot.service.CancelService;
import org.diffusionbot.bot.service.DerivedJobs;
import org.diffusionbot.bot.service.JobViews;
import org.diffusionbot.bot.service.LoraService;
import org.diffusionbot.bot.service.ModerationService;
import org.diffusionbot.bot.service.QuotaService;
import org.diffusionbot.bot.service.Services;
import org.diffusionbot.bot.service.SubmitService;
import org.diffusionbot.bot.service.UserSettingsService;
import org.diffusionbot.bot.workers.WorkerRegistry;
import org.diffusionbot.bot.jobs.JobPublisher;
import org.diffusionbot.bot.jobs.JobService;
import org.diffusionbot.bot.jobs.OutcomeConsumer;
import org.diffusionbot.bot.jobs.OutcomeDisplay;
import org.diffusionbot.bot.jobs.Republisher;
import org.diffusionbot.bot.jobs.ProgressRelay;
import org.diffusionbot.bot.jobs.ProgressThrottle;
import org.diffusionbot.bot.jobs.StoreMarks;
import org.diffusionbot.bot.web.WebServer;
import org.diffusionbot.common.mq.Topology;
import org.diffusionbot.db.Database;
import org.diffusionbot.db.GalleryStore;
import org.diffusionbot.db.ImageStore;
import org.diffusionbot.db.SettingsStore;
import org.diffusionbot.db.JobStore;
import org.diffusionbot.db.QuotaPolicy;
import org.diffusionbot.db.ModerationStore;
import org.diffusionbot.db.QuotaStore;
import org.diffusionbot.db.UserStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The running bot: database, broker, Discord client and the consumers that connect them. */
public final class Bot implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Bot.class);
    /** At most one edit of a job's message per this interval (Discord rate limits edits per channel). */
    public static final Duration EDIT_INTERVAL = Duration.ofMillis(1500);
    /** How often the job, queue and worker gauges are refreshed (PostgreSQL, RabbitMQ, heartbeats). */
    static final Duration FLEET_INTERVAL = Duration.ofSeconds(5);

    private final Database db;
    private final Connection rabbit;
    private final JobPublisher publisher;
    private final ExecutorService executor;
    private final ProgressRelay progress;
    private final JDA jda;
    private final JobStore store;
    private final WebServer web;
    private final Republisher republisher;
    private final StoreMarks marks;
    private final FleetGauges fleet;

    private Bot(Database db, Connection rabbit, JobPublisher publisher, ExecutorService executor, ProgressRelay progress,
            JDA jda, JobStore store, WebServer web, Republisher republisher, StoreMarks marks, FleetGauges fleet) {
        this.fleet = fleet;
        this.db = db;
        this.rabbit = rabbit;
        this.publisher = publisher;
        this.executor = executor;
        this.progress = progress;
        this.jda = jda;
        this.store = store;
        this.web = web;
        this.republisher = republisher;
        this.marks = marks;
    }

    /** Starts everything; returns once the Discord gateway is ready and the commands are registered. */
    public static Bot start(BotConfig config, Clock clock) throws Exception {
        Database db = Database.start(config.db());
        PrometheusMeterRegistry prometheus = Metrics.registry();
        FleetGauges fleet = null;
        Connection rabbit = null;
        ExecutorService executor = null;
        JDA jda = null;
        try {
            rabbit = config.rabbit().connectionFactory("bot").newConnection("bot");
            try (Channel ch = rabbit.createChannel()) {
                Topology.declareShared(ch);
                Topology.declareResults(ch, config.resultsQueue()); // before any job names it
            }
            JobStore store = new JobStore(db.dataSource(), clock);
            BotMetrics metrics = new BotMetrics(prometheus);
            JobPublisher publisher = new JobPublisher(rabbit, config.resultsQueue());
            StoreMarks marks = new StoreMarks(store);
            JobService jobs = new JobService(store, publisher, marks, metrics);
            AtomicInteger n = new AtomicInteger();
            // as many threads as database connections: more would only queue (spinning) for the pool
            executor = Executors.newFixedThreadPool(config.db().poolSize(), r -> {
                Thread t = new Thread(r, "bot-worker-" + n.incrementAndGet());
                t.setDaemon(true);
                return t;
            });
            // buttons, /settings, /models, /admin: settings, images, the worker registry from heartbeats
            WorkerRegistry registry = new WorkerRegistry(clock, config.heartbeatSeconds());
            registry.start(rabbit);
            ProgressThrottle throttle = new ProgressThrottle(clock, EDIT_INTERVAL);
            RunHistory history = new RunHistory();
            fleet = new FleetGauges(store, registry, metrics, config.defaultModel(), clock); // started below
            FleetStatus fleetStatus = new FleetStatus(registry, fleet::latest, history);
            InteractionRouter listener = InteractionRouter.create(
                    services(config, clock, db, store, jobs, registry, fleetStatus),
                    config.adminRoleIds(), config.defaultModel(), throttle, executor, clock, metrics);
            JDABuilder builder = JDABuilder.createLight(config.discordToken(), EnumSet.noneOf(GatewayIntent.class))
                    .setRestConfig(new RestConfig().setBaseUrl(config.discordApiBaseUrl().toString()))
                    .setHttpClientBuilder(new okhttp3.OkHttpClient.Builder()
                            .addInterceptor(new DiscordHttpMetrics(metrics)))
                    // JDA's default callback pool is the common ForkJoinPool: one thread on a 2-core host
                    .setCallbackPool(Executors.newFixedThreadPool(4, daemon("jda-callback")), true)
                    .setEventPassthrough(true) // the raw interaction: member roles and permissions (Caller)
                    .addEventListeners(listener);
            if (config.discordGatewayUrl() != null) {
                // JDA takes the gateway address from its session controller, not from /gateway/bot
                String gateway = config.discordGatewayUrl().toString();
                builder.setSessionController(new SessionControllerAdapter() {
                    @Override
                    public String getGateway() {
                        return gateway;
                    }
                }).setCompression(Compression.NONE);
            }
            jda = builder.build();
            jda.awaitReady();
            jda.updateCommands().addCommands(Commands.all(!config.adminRoleIds().isEmpty())).complete();
            DiscordNotifier notifier = new DiscordNotifier(jda, clock);
            OutcomeDisplay display = new OutcomeDisplay(store, notifier, throttle, marks);
            new OutcomeConsumer(store, display, executor, metrics, history).start(rabbit, config.resultsQueue());
            Republisher republisher = new Republisher(store, publisher, display, clock);
            republisher.start(Duration.ofSeconds(2));
            ProgressRelay progress = new ProgressRelay(store, notifier, throttle, executor, history);
            progress.start(rabbit);
            Connection conn = rabbit;
            JDA client = jda;
            fleet.start(rabbit, FLEET_INTERVAL);
            WebServer web = new WebServer(config.galleryBind(), config.galleryPort(), () -> conn.isOpen()
                    && client.getStatus() == JDA.Status.CONNECTED, new GalleryStore(db.dataSource()), prometheus);
            LOG.info("bot ready as {} in {} guild(s); web on port {}", jda.getSelfUser().getName(),
                    jda.getGuilds().size(), web.port());
            return new Bot(db, rabbit, publisher, executor, progress, jda, store, web, republisher, marks, fleet);
        } catch (Exception e) {
            if (fleet != null) {
                fleet.close();
            }
            if (jda != null) {
                jda.shutdownNow();
            }
            if (executor != null) {
                executor.shutdownNow();
            }
            if (rabbit != null && rabbit.isOpen()) {
                rabbit.abort();
            }
            db.close();
            throw e;
        }
    }

    /** The application services over the stores (the Discord adapters' only way to the database). */
    private static Services services(BotConfig config, Clock clock, Database db, JobStore store, JobService jobs,
            WorkerRegistry registry, FleetStatus fleet) {
        javax.sql.DataSource ds = db.dataSource();
        SettingsStore settings = new SettingsStore(ds);
        QuotaStore quotaStore = new QuotaStore(ds, clock);
        ImageStore images = new ImageStore(ds);
        QuotaService quotas = new QuotaService(new QuotaPolicy(config.dailyImageLimit(), config.maxActiveJobs()),
                settings, quotaStore);
        SecureRandom random = new SecureRandom();
        ModerationStore moderationStore = new ModerationStore(ds);
        ModerationService moderation = new ModerationService(moderationStore, registry);
        LoraService loras = new LoraService(registry);
        return new Services(
                new SubmitService(jobs, settings, quotas, moderation, loras, config.defaultModel(), registry::spec,
                        config.quotaWeights(), config.previewEvery(), random::nextLong, registry::defaultsFor),
                new DerivedJobs(store, images, registry::spec, config.previewEvery(), clock, random::nextLong),
                new CancelService(jobs, store), new JobViews(store, images, moderationStore), quotas,
                new UserSettingsService(settings),
                new AdminService(settings, new UserStore(ds), quotaStore), moderation, loras, registry, fleet);
    }

    private static java.util.concurrent.ThreadFactory daemon(String name) {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, name + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }

    public JDA jda() {
        return jda;
    }

    public WebServer web() {
        return web;
    }

    public JobStore store() {
        return store;
    }

    @Override
    public void close() throws Exception {
        web.close();
        fleet.close();
        republisher.close();
        progress.close();
        jda.shutdown();
        if (!jda.awaitShutdown(Duration.ofSeconds(10))) {
            jda.shutdownNow();
        }
        executor.shutdown();
        executor.awaitTermination(10, TimeUnit.SECONDS);
        marks.close();
        publisher.close();
        if (rabbit.isOpen()) {
            rabbit.close(5_000);
        }
        db.close();
    }
}
