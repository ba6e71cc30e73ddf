package org.diffusionbot.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.networknt.schema.Error;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaLocation;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.dialect.Dialects;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The deployment files of the repository root besides {@code deploy/k8s}: {@code docker-compose.yml} (interpolated with
 * {@code .env.example}'s values, as {@code docker compose} does with a {@code .env}) against the Compose
 * Specification's JSON Schema ({@code src/test/resources/schemas/compose-spec.json}, from compose-spec/compose-spec;
 * Debian's docker-compose 1.29 is too old for it), the variables compose and the Dockerfiles set against what
 * the code reads, the files the Dockerfiles copy, and the CUDA worker image's recipe against DJL's jars.
 */
class ComposeAndDockerfilesTest {
    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    private static final Pattern VARIABLE = Pattern.compile("\\$\\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?+])?([^}]*)}");
    /** Set for the shell and the JVM launcher, read by no code of ours. */
    private static final Set<String> PLATFORM_VARIABLES = Set.of("JAVA_HOME", "PATH");

    private static JsonNode compose(Map<String, String> env) throws IOException {
        JsonNode raw = Manifests.YAML.readTree(ROOT.resolve("docker-compose.yml").toFile());
        return new ComposeInterpolation(env).apply(raw);
    }

    /** .env.example with its blank required values filled in, as a user does. */
    private static Map<String, String> exampleEnv() throws IOException {
        Map<String, String> env = new HashMap<>(ComposeInterpolation.readEnvFile(ROOT.resolve(".env.example")));
        env.replaceAll((k, v) -> v.isEmpty() ? "filled-in-" + k.toLowerCase(java.util.Locale.ROOT) : v);
        return env;
    }

    private static List<Error> validateCompose(JsonNode compose) throws IOException {
        try (InputStream in = ComposeAndDockerfilesTest.class.getResourceAsStream("/schemas/compose-spec.json")) {
            assertNotNull(in, "test resource schemas/compose-spec.json");
            JsonNode schemaJson = new ObjectMapper().readTree(in);
            // its $id is relative ("compose_spec.json"): resolved against where the file was published
            Schema schema = SchemaRegistry.withDefaultDialect(Dialects.getDraft7()).getSchema(SchemaLocation.of(
                    "https://raw.githubusercontent.com/compose-spec/compose-spec/main/schema/compose-spec.json"), schemaJson);
            return schema.validate(compose);
        }
    }

    @Test
    void composeFileFollowsTheComposeSpecification() throws IOException {
        JsonNode compose = compose(exampleEnv());
        assertEquals(List.of(), validateCompose(compose));
        assertEquals("diffusion-bot", compose.path("name").asText()); // what compose 1.29 would reject
        // the schema check can fail: a misspelt health check key and GPU capabilities that are no list are refused
        ObjectNode broken = compose.deepCopy();
        ObjectNode worker = (ObjectNode) broken.path("services").path("worker");
        ((ObjectNode) worker.path("healthcheck")).put("intervall", "15s");
        ((ObjectNode) worker.path("deploy").path("resources").path("reservations").path("devices").get(0))
                .put("capabilities", "gpu");
        List<Error> errors = validateCompose(broken);
        assertEquals(2, errors.size(), errors.toString());
    }

    @Test
    void composeVariablesAreTheOnesEnvExampleDocuments() throws IOException {
        String composeText = Files.readString(ROOT.resolve("docker-compose.yml"));
        String example = Files.readString(ROOT.resolve(".env.example"));
        Map<String, String> keys = ComposeInterpolation.readEnvFile(ROOT.resolve(".env.example"));
        Matcher m = VARIABLE.matcher(composeText);
        int seen = 0;
        while (m.find()) {
            seen++;
            String name = m.group(1);
            String op = m.group(2);
            if (op == null || op.endsWith("?")) {
                assertTrue(keys.containsKey(name), ".env.example lacks " + name + ", which docker-compose.yml needs");
            } else if (op.endsWith("-")) {
                // an optional setting: .env.example shows it with the same default (commented out or set)
                String shown = "(?m)^#?\\s*" + name + "=" + Pattern.quote(m.group(3)) + "(\\s|$)";
                assertTrue(Pattern.compile(shown).matcher(example).find(),
                        ".env.example does not show " + name + "=" + m.group(3) + " (docker-compose.yml's default)");
            }
        }
        assertTrue(seen > 10, "variables found in docker-compose.yml: " + seen);
        // interpolation as compose does it: a blank required secret stops it, naming the variable
        Map<String, String> blank = exampleEnv();
        blank.put("RABBITMQ_PASSWORD", "");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> compose(blank));
        assertTrue(e.getMessage().contains("RABBITMQ_PASSWORD") && e.getMessage().contains("set RABBITMQ_PASSWORD in .env"),
                e.getMessage());
    }

    @Test
    void serviceSettingsAreReadByTheirProgram() throws IOException {
        JsonNode services = compose(exampleEnv()).path("services");
        Map<String, List<String>> sources = Map.of(
                "bot", List.of("bot/src/main", "common/src/main", "db/src/main"),
                "worker", List.of("worker/src/main", "common/src/main"));
        for (Map.Entry<String, List<String>> s : sources.entrySet()) {
            String code = sourceText(s.getValue());
            List<String> unread = new ArrayList<>();
            for (Iterator<String> it = services.path(s.getKey()).path("environment").fieldNames(); it.hasNext();) {
                String name = it.next();
                if (!readsVariable(code, name)) {
                    unread.add(name);
                }
            }
            assertEquals(List.of(), unread, "docker-compose.yml sets for " + s.getKey() + " what its code never reads");
        }
    }

    @Test
    void dockerfilesCopyFilesOfTheBuildContext() throws IOException {
        JsonNode services = compose(exampleEnv()).path("services");
        int checked = 0;
        for (String service : List.of("bot", "worker")) {
            JsonNode build = services.path(service).path("build");
            Path context = ROOT.resolve(build.path("context").asText()).normalize();
            Path file = context.resolve(build.path("dockerfile").asText());
            assertTrue(Files.isRegularFile(file), file.toString());
            for (String src : Dockerfile.read(file).contextSources()) {
                assertTrue(Files.exists(context.resolve(src)), file + " copies " + src + ", which does not exist");
                checked++;
            }
        }
        assertTrue(checked >= 3, "COPY sources checked: " + checked);
    }

    @Test
    void workerImageSetsOnlyVariablesTheCodeReads() throws IOException {
        Map<String, String> env = Dockerfile.read(ROOT.resolve("worker/Dockerfile")).env();
        String ours = sourceText(List.of("worker/src/main", "common/src/main"));
        String djl = classText("ai/djl/pytorch/jni/LibUtils.class");
        List<String> unread = new ArrayList<>();
        for (String name : env.keySet()) {
            boolean read = PLATFORM_VARIABLES.contains(name) || readsVariable(ours, name) || djl.contains(name);
            if (!read) {
                unread.add(name);
            }
        }
        assertEquals(List.of(), unread, "worker/Dockerfile sets variables nothing reads");
        for (String needed : List.of("PYTORCH_LIBRARY_PATH", "PYTORCH_VERSION", "PYTORCH_FLAVOR", "SD_NATIVE_OPS")) {
            assertTrue(env.containsKey(needed), "worker/Dockerfile must set " + needed);
        }
    }

    /**
     * The image's libtorch and DJL's JNI for it agree: PYTORCH_VERSION is the version DJL's pytorch-jni jar was
     * built for, that jar holds a JNI of PYTORCH_FLAVOR, the base image is that PyTorch with that CUDA, and the
     * JNI is installed under the name DJL looks for ({@code <djl version>-libdjl_torch.so}).
     */
    @Test
    void workerImageUsesTheLibtorchDjlsJniWasBuiltFor() throws IOException {
        Dockerfile docker = Dockerfile.read(ROOT.resolve("worker/Dockerfile"));
        Map<String, String> env = docker.env();
        Properties jni = new Properties();
        try (InputStream in = ClassLoader.getSystemResourceAsStream("jnilib/pytorch.properties")) {
            assertNotNull(in, "pytorch-jni jar on the class path");
            jni.load(in);
        }
        String version = env.get("PYTORCH_VERSION");
        String flavor = env.get("PYTORCH_FLAVOR");
        String djlVersion = pomProperty("djl.version");
        assertEquals(version + "-" + djlVersion, jni.getProperty("jni_version"));
        assertNotNull(ClassLoader.getSystemResource("jnilib/linux-x86_64/" + flavor + "/libdjl_torch.so"),
                "pytorch-jni has no JNI of flavor " + flavor);
        String cuda = flavor.substring(2, flavor.length() - 1) + "." + flavor.charAt(flavor.length() - 1); // cu128 -> 12.8
        String image = docker.args("ARG").stream().filter(a -> a.startsWith("PYTORCH_IMAGE=")).findFirst().orElseThrow();
        assertEquals("PYTORCH_IMAGE=pytorch/pytorch:" + version + "-cuda" + cuda + "-cudnn9", image);
        String text = Files.readString(docker.path());
        assertTrue(text.contains("jnilib/linux-x86_64/" + flavor + "/libdjl_torch.so " + djlVersion + "-libdjl_torch.so"),
                "worker/Dockerfile installs DJL's " + flavor + " JNI as " + djlVersion + "-libdjl_torch.so");
    }

    /** The GPU image's jar is built without DJL's CPU libtorch, and every other build keeps it. */
    @Test
    void workerImageLeavesOutTheCpuLibtorch() throws IOException {
        Dockerfile docker = Dockerfile.read(ROOT.resolve("worker/Dockerfile"));
        assertTrue(docker.args("RUN").stream().anyMatch(r -> r.startsWith("mvn ") && r.contains(" -Dcuda ")),
                "worker/Dockerfile builds with -Dcuda");
        String pom = Files.readString(ROOT.resolve("worker/pom.xml"));
        int profiles = pom.indexOf("<profiles>");
        assertTrue(profiles > 0);
        assertFalse(pom.substring(0, profiles).contains("pytorch-native-cpu"), "pytorch-native-cpu outside the profile");
        String profile = pom.substring(profiles);
        assertTrue(profile.contains("<name>!cuda</name>") && profile.contains("<artifactId>pytorch-native-cpu</artifactId>"),
                "worker/pom.xml: a profile active unless -Dcuda holds pytorch-native-cpu");
    }

    /** One build of the native library: the image and the benchmark machine run the same script. */
    @Test
    void imageAndBenchmarkBuildTheNativeLibraryWithOneScript() throws IOException {
        Dockerfile docker = Dockerfile.read(ROOT.resolve("worker/Dockerfile"));
        assertTrue(docker.args("COPY").contains("worker/src/main/native /src/native"));
        assertTrue(docker.args("RUN").stream().anyMatch(r -> r.contains("bash /src/native/build.sh ")
                && r.contains("CUDA_ARCHS=")), "worker/Dockerfile runs worker/src/main/native/build.sh with CUDA_ARCHS");
        assertTrue(Files.readString(ROOT.resolve("scripts/gpu/bench-build.sh")).contains("worker/src/main/native/build.sh"));
        assertTrue(Files.readString(ROOT.resolve("scripts/run-local.sh")).contains("SD_NATIVE_OPS"));
    }

    private static boolean readsVariable(String code, String name) {
        return code.contains("\"" + name + "\"") || code.contains("${" + name);
    }

    private static String sourceText(List<String> dirs) throws IOException {
        StringBuilder sb = new StringBuilder();
        for (String d : dirs) {
            try (Stream<Path> files = Files.walk(ROOT.resolve(d))) {
                for (Path p : files.filter(Files::isRegularFile).filter(p -> p.toString().endsWith(".java")
                        || p.toString().endsWith(".xml")).collect(Collectors.toList())) {
                    sb.append(Files.readString(p)).append('\n');
                }
            }
        }
        return sb.toString();
    }

    private static String classText(String resource) throws IOException {
        try (InputStream in = ClassLoader.getSystemResourceAsStream(resource)) {
            assertNotNull(in, resource);
            return new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
        }
    }

    private static String pomProperty(String name) throws IOException {
        Matcher m = Pattern.compile("<" + Pattern.quote(name) + ">([^<]+)</").matcher(Files.readString(ROOT.resolve("pom.xml")));
        assertTrue(m.find(), name);
        return m.group(1);
    }
}
