package org.diffusionbot.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLParser;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/** The YAML documents of {@code deploy/k8s/}, each with the file it came from. */
final class Manifests {
    static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    /** Surefire runs in the module's folder, {@code deploy/}. */
    static final Path DIR = Path.of("k8s");

    /** One document: {@code apiVersion}, {@code kind} and {@code metadata.name} read from it. */
    record Doc(Path file, ObjectNode node) {
        String apiVersion() {
            return node.path("apiVersion").asText();
        }

        String kind() {
            return node.path("kind").asText();
        }

        String name() {
            return node.path("metadata").path("name").asText();
        }

        @Override
        public String toString() {
            return file.getFileName() + ": " + kind() + " " + name();
        }
    }

    private Manifests() {
    }

    static List<Doc> all() {
        try (Stream<Path> files = Files.list(DIR)) {
            List<Doc> docs = new ArrayList<>();
            for (Path f : files.filter(p -> p.toString().endsWith(".yaml")).sorted().toList()) {
                docs.addAll(parse(f, Files.readString(f)));
            }
            return docs;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Every non-empty document of a multi-document YAML text. */
    static List<Doc> parse(Path file, String yaml) throws IOException {
        List<Doc> docs = new ArrayList<>();
        try (YAMLParser parser = (YAMLParser) YAML.getFactory().createParser(yaml)) {
            for (JsonNode n : YAML.readValues(parser, JsonNode.class).readAll()) {
                if (n != null && !n.isNull() && !n.isMissingNode()) {
                    if (!n.isObject()) {
                        throw new IOException(file + ": a document is not a mapping");
                    }
                    docs.add(new Doc(file, (ObjectNode) n));
                }
            }
        }
        return docs;
    }

    static List<Doc> ofKind(List<Doc> docs, String kind) {
        return docs.stream().filter(d -> d.kind().equals(kind)).toList();
    }
}
