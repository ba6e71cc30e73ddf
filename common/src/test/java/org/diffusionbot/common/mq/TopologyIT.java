package org.diffusionbot.common.mq;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import com.rabbitmq.client.MessageProperties;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The topology against the real RabbitMQ server on localhost. */
class TopologyIT {
    private Connection conn;
    private Channel ch;
    private final String model = "test-" + UUID.randomUUID().toString().substring(0, 8);

    @BeforeEach
    void connect() throws Exception {
        conn = RabbitTestSupport.connect("topology-test");
        ch = conn.createChannel();
        Topology.declareShared(ch);
        ch.queuePurge(Topology.DEAD_QUEUE);
    }

    @AfterEach
    void cleanUp() throws Exception {
        try (Channel c = conn.createChannel()) {
            c.queueDelete(Topology.jobsQueue(model));
        }
        conn.close();
    }

    @Test
    void declarationIsIdempotent() throws Exception {
        Topology.declareShared(ch);
        Topology.declareJobsQueue(ch, model, 3);
        Topology.declareJobsQueue(ch, model, 3);
        assertEquals(0, ch.queueDeclarePassive(Topology.jobsQueue(model)).getMessageCount());
        assertNotNull(ch.queueDeclarePassive(Topology.RESULTS_QUEUE));
        assertNotNull(ch.queueDeclarePassive(Topology.DEAD_QUEUE));
    }

    @Test
    void jobsQueueIsAQuorumQueueWithTheDeclaredArguments() throws Exception {
        Topology.declareJobsQueue(ch, model, 3);
        // The broker refuses a redeclaration whose arguments differ: that proves which ones it holds.
        Channel other = conn.createChannel();
        IOException e = assertThrows(IOException.class, () -> other.queueDeclare(Topology.jobsQueue(model), true,
                false, false, Map.of("x-queue-type", "classic")));
        assertTrue(String.valueOf(e.getCause()).contains("PRECONDITION_FAILED"), String.valueOf(e.getCause()));
        Channel third = conn.createChannel();
        e = assertThrows(IOException.class, () -> third.queueDeclare(Topology.jobsQueue(model), true, false, false,
                Map.of("x-queue-type", "quorum", "x-delivery-limit", 7, "x-dead-letter-exchange", Topology.DEAD_EXCHANGE)));
        assertTrue(String.valueOf(e.getCause()).contains("x-delivery-limit"), String.valueOf(e.getCause()));
    }

    @Test
    void jobsAreRoutedByModelAndUnroutableModelsAreReturned() throws Exception {
        Topology.declareJobsQueue(ch, model, 3);
        publish(Topology.JOBS_EXCHANGE, model, "job-a");
        GetResponse got = ch.basicGet(Topology.jobsQueue(model), true);
        assertNotNull(got);
        assertEquals("job-a", new String(got.getBody(), StandardCharsets.UTF_8));

        java.util.concurrent.CompletableFuture<String> returned = new java.util.concurrent.CompletableFuture<>();
        ch.addReturnListener(r -> returned.complete(r.getRoutingKey()));
        ch.basicPublish(Topology.JOBS_EXCHANGE, "no-such-model", true, MessageProperties.PERSISTENT_BASIC,
                new byte[] {1});
        assertEquals("no-such-model", returned.get(10, java.util.concurrent.TimeUnit.SECONDS));
    }

    @Test
    void rejectedJobIsDeadLettered() throws Exception {
        Topology.declareJobsQueue(ch, model, 3);
        publish(Topology.JOBS_EXCHANGE, model, "poison");
        GetResponse got = ch.basicGet(Topology.jobsQueue(model), false);
        ch.basicReject(got.getEnvelope().getDeliveryTag(), false);
        GetResponse dead = await(Topology.DEAD_QUEUE);
        assertEquals("poison", new String(dead.getBody(), StandardCharsets.UTF_8));
        assertNull(ch.basicGet(Topology.jobsQueue(model), true));
    }

    @Test
    void jobRequeuedPastTheDeliveryLimitIsDeadLettered() throws Exception {
        Topology.declareJobsQueue(ch, model, 2);
        publish(Topology.JOBS_EXCHANGE, model, "crashes-every-worker");
        int deliveries = 0;
        GetResponse got;
        while ((got = awaitOrNull(Topology.jobsQueue(model))) != null) {
            deliveries++;
            ch.basicNack(got.getEnvelope().getDeliveryTag(), false, true);
            assertTrue(deliveries <= 5, "delivery limit not enforced");
        }
        assertEquals(3, deliveries, "first delivery plus two redeliveries");
        GetResponse dead = await(Topology.DEAD_QUEUE);
        assertEquals("crashes-every-worker", new String(dead.getBody(), StandardCharsets.UTF_8));
    }

    @Test
    void deadLettersReachTheDeadQueueOfTheDeploymentTheJobNames() throws Exception {
        String mine = "sd.results." + model + "-a";
        String theirs = "sd.results." + model + "-b";
        try {
            Topology.declareResults(ch, mine);
            Topology.declareResults(ch, mine); // idempotent
            Topology.declareResults(ch, theirs);
            Topology.declareJobsQueue(ch, model, 3);
            AMQP.BasicProperties props = MessageProperties.PERSISTENT_BASIC.builder().replyTo(mine)
                    .headers(Map.of(Topology.RESULTS_HEADER, mine)).build();
            ch.confirmSelect();
            ch.basicPublish(Topology.JOBS_EXCHANGE, model, true, props, "mine".getBytes(StandardCharsets.UTF_8));
            ch.waitForConfirmsOrDie(10_000);
            GetResponse got = ch.basicGet(Topology.jobsQueue(model), false);
            ch.basicReject(got.getEnvelope().getDeliveryTag(), false);

            GetResponse dead = await(Topology.deadQueueFor(mine));
            assertEquals("mine", new String(dead.getBody(), StandardCharsets.UTF_8));
            assertEquals(mine, dead.getProps().getReplyTo());
            assertEquals("mine", new String(await(Topology.DEAD_QUEUE).getBody(), StandardCharsets.UTF_8),
                    "the default deployment's sd.dead sees every dead letter");
            assertNull(ch.basicGet(Topology.deadQueueFor(theirs), true), "another deployment's dead queue stays empty");
        } finally {
            for (String q : new String[] {mine, theirs}) {
                ch.queueDelete(q);
                ch.queueDelete(Topology.deadQueueFor(q));
            }
        }
    }

    @Test
    void resultsQueueNamesAreChecked() {
        assertEquals(Topology.DEAD_QUEUE, Topology.deadQueueFor("sd.results"));
        assertEquals("sd.results.guild-a.dead", Topology.deadQueueFor("sd.results.guild-a"));
        assertTrue(Topology.isResultsQueue("sd.results.Guild_7"));
        for (String bad : new String[] {null, "", "sd.results.", "sd.jobs.sd15", "sd.results.a.b", "amq.results",
            "sd.results." + "x".repeat(65), "sd.results.a b"}) {
            assertTrue(!Topology.isResultsQueue(bad), bad);
            assertThrows(IllegalArgumentException.class, () -> Topology.checkResultsQueue(bad));
        }
    }

    @Test
    void badModelNamesAreRefusedBeforeReachingTheBroker() {
        assertThrows(IllegalArgumentException.class, () -> Topology.jobsQueue("../etc"));
        assertThrows(IllegalArgumentException.class, () -> Topology.jobsQueue(""));
        assertThrows(IllegalArgumentException.class, () -> Topology.jobsQueue("a".repeat(101)));
        assertEquals("sd.jobs.sd-1.5_fp16", Topology.jobsQueue("sd-1.5_fp16"));
    }

    private void publish(String exchange, String key, String body) throws Exception {
        ch.confirmSelect();
        AMQP.BasicProperties props = MessageProperties.PERSISTENT_BASIC;
        ch.basicPublish(exchange, key, true, props, body.getBytes(StandardCharsets.UTF_8));
        ch.waitForConfirmsOrDie(10_000);
    }

    private GetResponse await(String queue) throws Exception {
        GetResponse r = awaitOrNull(queue);
        assertNotNull(r, "nothing arrived on " + queue);
        return r;
    }

    /** Polls for up to 5 s: dead-lettering and requeueing are asynchronous in the broker. */
    private GetResponse awaitOrNull(String queue) throws Exception {
        for (int i = 0; i < 100; i++) {
            GetResponse r = ch.basicGet(queue, false);
            if (r != null) {
                return r;
            }
            Thread.sleep(50);
        }
        return null;
    }
}
