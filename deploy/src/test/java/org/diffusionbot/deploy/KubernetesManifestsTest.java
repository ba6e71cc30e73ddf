package org.diffusionbot.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * {@code deploy/k8s/}: every document is a kind we can check and passes it (Kubernetes kinds by strict
 * deserialisation, KEDA's against its CRD schema), and the objects fit together (selectors, ports,
 * secrets, the worker each ScaledObject scales and the queue it watches, the SIGTERM drain).
 */
class KubernetesManifestsTest {
    private static final List<Manifests.Doc> DOCS = Manifests.all();

    @Test
    void everyDocumentIsValidForItsKind() throws IOException {
        assertTrue(DOCS.size() >= 10, "documents found: " + DOCS);
        for (Manifests.Doc d : DOCS) {
            if (CrdSchemas.known(d.apiVersion(), d.kind())) {
                assertEquals(List.of(), CrdSchemas.validate(d.node()), d.toString());
            } else if (StrictKinds.known(d.apiVersion(), d.kind())) {
                HasMetadata m = StrictKinds.read(d.apiVersion(), d.kind(), d.node());
                assertEquals("Namespace".equals(d.kind()) ? null : "diffusion-bot", m.getMetadata().getNamespace(),
                        d.toString());
            } else {
                fail(d + ": no schema or model to check " + d.apiVersion() + " " + d.kind() + " against");
            }
        }
    }

    @Test
    void strictReadingRejectsUnknownAndMistypedFields() {
        Manifests.Doc worker = workerDocs().get(0);
        ObjectNode typo = worker.node().deepCopy();
        ((ObjectNode) typo.path("spec").path("template").path("spec").path("containers").get(0))
                .set("readinessprobe", typo.path("spec").path("template").path("spec").path("containers").get(0)
                        .path("readinessProbe"));
        IOException e = assertThrows(IOException.class, () -> StrictKinds.read("apps/v1", "Deployment", typo));
        assertTrue(e.getMessage().contains("readinessprobe"), e.getMessage());

        ObjectNode misplaced = worker.node().deepCopy();
        ((ObjectNode) misplaced.path("spec")).put("terminationGracePeriodSeconds", 600);
        assertThrows(IOException.class, () -> StrictKinds.read("apps/v1", "Deployment", misplaced));

        ObjectNode mistyped = worker.node().deepCopy();
        ((ObjectNode) mistyped.path("spec")).put("replicas", "one");
        assertThrows(IOException.class, () -> StrictKinds.read("apps/v1", "Deployment", mistyped));
    }

    @Test
    void kedaSchemaRejectsWhatKedaWouldRefuse() throws IOException {
        ObjectNode so = Manifests.ofKind(DOCS, "ScaledObject").get(0).node();
        assertEquals(List.of(), CrdSchemas.validate(so));

        ObjectNode unknown = so.deepCopy();
        ((ObjectNode) unknown.path("spec")).put("minReplicas", 0);
        assertFalse(CrdSchemas.validate(unknown).isEmpty(), "unknown field minReplicas");

        ObjectNode noType = so.deepCopy();
        ((ObjectNode) noType.path("spec").path("triggers").get(0)).remove("type");
        assertFalse(CrdSchemas.validate(noType).isEmpty(), "trigger without type");

        ObjectNode stringCount = so.deepCopy();
        ((ObjectNode) stringCount.path("spec")).put("maxReplicaCount", "8");
        assertFalse(CrdSchemas.validate(stringCount).isEmpty(), "maxReplicaCount as a string");

        ObjectNode ta = Manifests.ofKind(DOCS, "TriggerAuthentication").get(0).node().deepCopy();
        ((ObjectNode) ta.path("spec").path("secretTargetRef").get(0)).remove("key");
        assertFalse(CrdSchemas.validate(ta).isEmpty(), "secretTargetRef without key");
    }

    @Test
    void servicesSelectWorkloadsAndTheirNamedPorts() throws IOException {
        Map<String, PodTemplateSpec> templates = new HashMap<>();
        for (Manifests.Doc d : Manifests.ofKind(DOCS, "Deployment")) {
            Deployment dep = (Deployment) read(d);
            templates.put(d.name(), dep.getSpec().getTemplate());
            assertLabelsInclude(dep.getSpec().getTemplate().getMetadata().getLabels(),
                    dep.getSpec().getSelector().getMatchLabels(), d + " selector");
        }
        for (Manifests.Doc d : Manifests.ofKind(DOCS, "StatefulSet")) {
            StatefulSet ss = (StatefulSet) read(d);
            templates.put(d.name(), ss.getSpec().getTemplate());
            assertLabelsInclude(ss.getSpec().getTemplate().getMetadata().getLabels(),
                    ss.getSpec().getSelector().getMatchLabels(), d + " selector");
            assertTrue(DOCS.stream().anyMatch(s -> s.kind().equals("Service") && s.name().equals(ss.getSpec().getServiceName())),
                    d + ": no Service " + ss.getSpec().getServiceName());
        }
        for (Manifests.Doc d : Manifests.ofKind(DOCS, "Service")) {
            Service svc = (Service) read(d);
            List<PodTemplateSpec> selected = templates.values().stream().filter(t ->
                    t.getMetadata().getLabels().entrySet().containsAll(svc.getSpec().getSelector().entrySet())).toList();
            assertEquals(1, selected.size(), d + " selects one workload");
            Set<String> ports = new TreeSet<>();
            selected.get(0).getSpec().getContainers().forEach(c -> c.getPorts().forEach(p -> ports.add(p.getName())));
            for (ServicePort p : svc.getSpec().getPorts()) {
                assertTrue(ports.contains(p.getTargetPort().getStrVal()), d + ": target port " + p.getTargetPort()
                        + " is not one of " + ports);
            }
        }
    }

    @Test
    void secretKeysAndSettingsAreDocumented() throws IOException {
        String operations = Files.readString(Path.of("..", "docs", "OPERATIONS.md"));
        String readme = Files.readString(Path.of("..", "README.md"));
        Set<String> keys = new TreeSet<>();
        for (Manifests.Doc d : DOCS) {
            d.node().findValues("secretKeyRef").forEach(r -> keys.add(r.path("key").asText()));
            d.node().findValues("secretTargetRef").forEach(refs -> refs.forEach(r -> keys.add(r.path("key").asText())));
        }
        assertTrue(keys.size() >= 4, "secret keys: " + keys);
        for (String k : keys) {
            assertTrue(operations.contains("--from-literal=" + k + "="), "docs/OPERATIONS.md does not create secret key " + k);
        }
        for (Container c : programContainers()) {
            Set<String> referenced = new TreeSet<>();
            Pattern ref = Pattern.compile("\\$\\(([A-Z_]+)\\)");
            for (EnvVar v : c.getEnv()) {
                Matcher m = ref.matcher(v.getValue() == null ? "" : v.getValue());
                while (m.find()) {
                    referenced.add(m.group(1));
                }
            }
            for (EnvVar v : c.getEnv()) {
                assertTrue(readme.contains("| `" + v.getName() + "`") || readme.contains("/ `" + v.getName() + "`")
                        || referenced.contains(v.getName()),
                        c.getName() + ": " + v.getName() + " is neither a setting in README's tables nor used by another variable");
            }
        }
    }

    @Test
    void eachScaledObjectScalesAWorkerOnItsModelsQueue() throws IOException {
        List<Manifests.Doc> scaled = Manifests.ofKind(DOCS, "ScaledObject");
        assertEquals(workerDocs().size(), scaled.size(), "one ScaledObject per worker Deployment");
        for (Manifests.Doc d : scaled) {
            JsonNode spec = d.node().path("spec");
            String target = spec.path("scaleTargetRef").path("name").asText();
            Manifests.Doc worker = workerDocs().stream().filter(w -> w.name().equals(target)).findFirst()
                    .orElseThrow(() -> new AssertionError(d + " scales " + target + ", which is no worker Deployment"));
            String model = env(workerContainer((Deployment) read(worker)), "MODEL_NAME");
            // KEDA's CEL rule (not evaluated by the schema check): minReplicaCount <= maxReplicaCount (default 100)
            assertTrue(spec.path("minReplicaCount").asInt(0) <= spec.path("maxReplicaCount").asInt(100), d.toString());
            assertEquals(1, spec.path("triggers").size(), d.toString());
            JsonNode trigger = spec.path("triggers").get(0);
            assertEquals("rabbitmq", trigger.path("type").asText());
            assertEquals("sd.jobs." + model, trigger.path("metadata").path("queueName").asText(), d.toString());
            assertEquals("QueueLength", trigger.path("metadata").path("mode").asText());
            assertTrue(Integer.parseInt(trigger.path("metadata").path("value").asText()) > 0);
            String auth = trigger.path("authenticationRef").path("name").asText();
            assertTrue(Manifests.ofKind(DOCS, "TriggerAuthentication").stream().anyMatch(t -> t.name().equals(auth)),
                    d + ": no TriggerAuthentication " + auth);
        }
    }

    @Test
    void workersHaveAGpuTheirModelAndTimeToDrain() throws IOException {
        assertFalse(workerDocs().isEmpty());
        for (Manifests.Doc d : workerDocs()) {
            Deployment dep = (Deployment) read(d);
            Container c = workerContainer(dep);
            assertEquals(new Quantity("1"), c.getResources().getLimits().get("nvidia.com/gpu"), d.toString());
            // SIGTERM: the batch in hand finishes; a batch past JOB_TIMEOUT_SECONDS is abandoned anyway
            long jobTimeout = env(c, "JOB_TIMEOUT_SECONDS") == null ? 900 : Long.parseLong(env(c, "JOB_TIMEOUT_SECONDS"));
            assertTrue(dep.getSpec().getTemplate().getSpec().getTerminationGracePeriodSeconds() > jobTimeout,
                    d + ": terminationGracePeriodSeconds must exceed JOB_TIMEOUT_SECONDS");
            assertEquals(List.of("java", "-jar", "/app/worker.jar", "doctor"), c.getReadinessProbe().getExec().getCommand());
            assertTrue(c.getLivenessProbe().getExec().getCommand().get(2).contains(env(c, "HEALTH_FILE")), d.toString());
            assertEquals(d.name(), "worker-" + env(c, "MODEL_NAME"), "worker Deployments are named worker-<model>");
            assertScrapedOn(dep.getSpec().getTemplate(), c, Integer.parseInt(env(c, "METRICS_PORT")), "/metrics");
            // MODEL_PATH lies on a read-only mount of a volume the pod has
            String modelPath = env(c, "MODEL_PATH");
            VolumeMount mount = c.getVolumeMounts().stream().filter(m -> modelPath.startsWith(m.getMountPath() + "/"))
                    .findFirst().orElseThrow(() -> new AssertionError(d + ": MODEL_PATH " + modelPath + " is on no mount"));
            assertTrue(mount.getReadOnly(), d.toString());
            List<String> volumes = dep.getSpec().getTemplate().getSpec().getVolumes().stream().map(Volume::getName).toList();
            assertTrue(volumes.contains(mount.getName()), d + ": no volume " + mount.getName());
        }
    }

    private static HasMetadata read(Manifests.Doc d) throws IOException {
        return StrictKinds.read(d.apiVersion(), d.kind(), d.node());
    }

    /** Deployments whose container runs {@code worker.jar run}. */
    private static List<Manifests.Doc> workerDocs() {
        return Manifests.ofKind(DOCS, "Deployment").stream().filter(d -> d.node().path("spec").path("template")
                .path("spec").path("containers").get(0).path("args").path(0).asText().equals("run")).toList();
    }

    private static Container workerContainer(Deployment d) {
        return d.getSpec().getTemplate().getSpec().getContainers().get(0);
    }

    /** The bot's and the workers' containers (the images this repository builds). */
    private static List<Container> programContainers() throws IOException {
        List<Container> out = new ArrayList<>();
        for (Manifests.Doc d : Manifests.ofKind(DOCS, "Deployment")) {
            for (Container c : ((Deployment) read(d)).getSpec().getTemplate().getSpec().getContainers()) {
                if (c.getImage().contains("/diffusion-bot/")) {
                    out.add(c);
                }
            }
        }
        assertTrue(out.size() >= 2, "bot and worker containers: " + out.size());
        return out;
    }

    private static String env(Container c, String name) {
        return c.getEnv().stream().filter(v -> v.getName().equals(name)).map(EnvVar::getValue).findFirst().orElse(null);
    }

    /** The pod's scrape annotations name the port the container serves metrics on, declared as "metrics". */
    private static void assertScrapedOn(PodTemplateSpec pod, Container c, int port, String path) {
        Map<String, String> a = pod.getMetadata().getAnnotations();
        assertEquals("true", a.get("prometheus.io/scrape"), c.getName());
        assertEquals(Integer.toString(port), a.get("prometheus.io/port"), c.getName());
        assertEquals(path, a.get("prometheus.io/path"), c.getName());
        assertTrue(c.getPorts().stream().anyMatch(p -> p.getContainerPort() == port), c.getName() + " declares port " + port);
    }

    private static void assertLabelsInclude(Map<String, String> labels, Map<String, String> selector, String what) {
        assertFalse(selector.isEmpty(), what);
        assertTrue(labels.entrySet().containsAll(selector.entrySet()), what + ": " + selector + " not in " + labels);
    }
}
