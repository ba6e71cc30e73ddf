package org.diffusionbot.worker.engine.text;

import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The CLIP byte-level BPE tokenizer of Stable Diffusion's text encoders, with the behaviour of
 * Hugging Face's {@code CLIPTokenizer} (fast, {@code tokenizer.json}): special tokens are split
 * out first, then each piece is NFC-normalised, whitespace runs become one space, it is
 * lowercased, split with CLIP's pattern ({@code 's|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+}),
 * mapped to GPT-2's byte alphabet and merged with BPE, {@code </w>} marking the end of each word.
 *
 * <p>{@link #encode(String)} returns the ids wrapped in {@code <|startoftext|>} (49406) and
 * {@code <|endoftext|>} (49407), truncated and padded to {@link #maxLength()} (77), as the text
 * encoder needs them, together with the untruncated ids and the number of tokens cut off. SD 1.x
 * pads with {@code <|endoftext|>}; SD 2.x tokenizers pad with {@code !} (id 0), which {@link
 * #fromDirectory(Path)} picks up from {@code tokenizer_config.json}.
 *
 * <p>Instances are immutable apart from an internal word cache and are safe to share between
 * threads.
 */
public final class ClipTokenizer {
    /** CLIP's context length. */
    public static final int DEFAULT_MAX_LENGTH = 77;

    static final String BOS_TOKEN = "<|startoftext|>";
    static final String EOS_TOKEN = "<|endoftext|>";

    private static final Pattern SPECIAL = Pattern.compile(Pattern.quote(BOS_TOKEN) + "|" + Pattern.quote(EOS_TOKEN));
    private static final Pattern WHITESPACE = Pattern.compile("\\s+", Pattern.UNICODE_CHARACTER_CLASS);
    private static final Pattern WORDS = Pattern.compile(
            "'s|'t|'re|'ve|'m|'ll|'d|\\p{L}+|\\p{N}|[^\\s\\p{L}\\p{N}]+", Pattern.UNICODE_CHARACTER_CLASS);
    private static final char[] BYTE_TO_CHAR = bytesToUnicode();

    /** Result of {@link #encode(String)}. */
    public record Encoding(int[] ids, int[] untruncatedIds, int truncatedTokens) {
        /** Whether the prompt was longer than the context and tokens were dropped. */
        public boolean truncated() {
            return truncatedTokens > 0;
        }
    }

    private final Map<String, Integer> vocab;
    private final Map<String, Integer> mergeRanks;
    private final int bosId;
    private final int eosId;
    private final int padId;
    private final int maxLength;
    private final Map<String, int[]> cache = new ConcurrentHashMap<>();

    private ClipTokenizer(Map<String, Integer> vocab, Map<String, Integer> mergeRanks, int padId, int maxLength) {
        this.vocab = vocab;
        this.mergeRanks = mergeRanks;
        this.bosId = requireId(vocab, BOS_TOKEN);
        this.eosId = requireId(vocab, EOS_TOKEN);
        this.padId = padId < 0 ? eosId : padId;
        this.maxLength = maxLength;
        if (maxLength < 2) {
            throw new IllegalArgumentException("maxLength must be at least 2");
        }
    }

    private static int requireId(Map<String, Integer> vocab, String token) {
        Integer id = vocab.get(token);
        if (id == null) {
            throw new IllegalArgumentException("vocabulary lacks " + token);
        }
        return id;
    }

    // ---------------------------------------------------------------- factories

    /** The CLIP vocabulary bundled with the worker (classpath {@code clip-tokenizer/}), padding with eos. */
    public static ClipTokenizer bundled() {
        return bundled(-1);
    }

    /** The bundled CLIP vocabulary, padding with {@code padId} (negative: eos, as SD 1.x; 0 for SD 2.x). */
    public static ClipTokenizer bundled(int padId) {
        try (InputStream v = resource("clip-tokenizer/vocab.json");
                InputStream m = resource("clip-tokenizer/merges.txt")) {
            return fromVocabAndMerges(v, m, padId);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static InputStream resource(String name) {
        InputStream in = ClipTokenizer.class.getClassLoader().getResourceAsStream(name);
        if (in == null) {
            throw new IllegalStateException("missing classpath resource " + name);
        }
        return in;
    }

    /**
     * Loads a diffusers {@code tokenizer/} folder: {@code vocab.json} + {@code merges.txt} if
     * present, otherwise {@code tokenizer.json}; the pad token comes from {@code
     * tokenizer_config.json} when it names one (else eos).
     */
    public static ClipTokenizer fromDirectory(Path dir) throws IOException {
        Path vocabFile = dir.resolve("vocab.json");
        Path mergesFile = dir.resolve("merges.txt");
        Path configFile = dir.resolve("tokenizer_config.json");
        String padToken = Files.exists(configFile) ? readPadToken(configFile) : null;
        ClipTokenizer t;
        if (Files.exists(vocabFile) && Files.exists(mergesFile)) {
            try (InputStream v = Files.newInputStream(vocabFile); InputStream m = Files.newInputStream(mergesFile)) {
                t = fromVocabAndMerges(v, m, -1);
            }
        } else {
            try (InputStream in = Files.newInputStream(dir.resolve("tokenizer.json"))) {
                t = fromTokenizerJson(in, -1);
            }
        }
        if (padToken != null && t.vocab.containsKey(padToken)) {
            t = t.withPadId(t.vocab.get(padToken));
        }
        return t;
    }

    /** Reads {@code vocab.json} and {@code merges.txt} (streams are not closed). */
    public static ClipTokenizer fromVocabAndMerges(InputStream vocabJson, InputStream mergesTxt, int padId)
            throws IOException {
        Map<String, Integer> vocab;
        try (JsonReader r = new JsonReader(reader(vocabJson))) {
            vocab = readVocab(r);
        }
        Map<String, Integer> ranks = new HashMap<>(80_000);
        BufferedReader br = new BufferedReader(reader(mergesTxt), 1 << 16);
        String line;
        boolean first = true;
        while ((line = br.readLine()) != null) {
            if (first && line.startsWith("#version")) {
                first = false;
                continue;
            }
            first = false;
            if (line.isBlank()) {
                continue;
            }
            int sp = line.indexOf(' ');
            if (sp <= 0) {
                throw new IOException("bad merges line: " + line);
            }
            ranks.putIfAbsent(line, ranks.size());
        }
        return new ClipTokenizer(vocab, ranks, padId, DEFAULT_MAX_LENGTH);
    }

    /** Reads a Hugging Face {@code tokenizer.json} (BPE model; merges as strings or pairs). */
    public static ClipTokenizer fromTokenizerJson(InputStream tokenizerJson, int padId) throws IOException {
        Map<String, Integer> vocab = null;
        Map<String, Integer> ranks = null;
        try (JsonReader r = new JsonReader(reader(tokenizerJson))) {
            r.beginObject();
            while (r.hasNext()) {
                if (!r.nextName().equals("model") || r.peek() != JsonToken.BEGIN_OBJECT) {
                    r.skipValue();
                    continue;
                }
                r.beginObject();
                while (r.hasNext()) {
                    String name = r.nextName();
                    if (name.equals("vocab")) {
                        vocab = readVocab(r);
                    } else if (name.equals("merges")) {
                        ranks = new HashMap<>(80_000);
                        r.beginArray();
                        while (r.hasNext()) {
                            String merge;
                            if (r.peek() == JsonToken.BEGIN_ARRAY) {
                                r.beginArray();
                                merge = r.nextString() + " " + r.nextString();
                                r.endArray();
                            } else {
                                merge = r.nextString();
                            }
                            ranks.putIfAbsent(merge, ranks.size());
                        }
                        r.endArray();
                    } else {
                        r.skipValue();
                    }
                }
                r.endObject();
            }
            r.endObject();
        }
        if (vocab == null || ranks == null) {
            throw new IOException("tokenizer.json has no BPE model vocab/merges");
        }
        return new ClipTokenizer(vocab, ranks, padId, DEFAULT_MAX_LENGTH);
    }

    private static Reader reader(InputStream in) {
        return new InputStreamReader(in, StandardCharsets.UTF_8);
    }

    private static Map<String, Integer> readVocab(JsonReader r) throws IOException {
        Map<String, Integer> vocab = new HashMap<>(80_000);
        r.beginObject();
        while (r.hasNext()) {
            String token = r.nextName();
            vocab.put(token, r.nextInt());
        }
        r.endObject();
        return vocab;
    }

    private static String readPadToken(Path config) throws IOException {
        try (JsonReader r = new JsonReader(Files.newBufferedReader(config, StandardCharsets.UTF_8))) {
            String pad = null;
            r.beginObject();
            while (r.hasNext()) {
                String name = r.nextName();
                if (name.equals("pad_token") && r.peek() == JsonToken.STRING) {
                    pad = r.nextString();
                } else if (name.equals("pad_token") && r.peek() == JsonToken.BEGIN_OBJECT) {
                    r.beginObject();
                    while (r.hasNext()) {
                        if (r.nextName().equals("content")) {
                            pad = r.nextString();
                        } else {
                            r.skipValue();
                        }
                    }
                    r.endObject();
                } else {
                    r.skipValue();
                }
            }
            r.endObject();
            return pad;
        }
    }

    /** The same vocabulary padding with another id (0 for SD 2.x). */
    public ClipTokenizer withPadId(int padId) {
        return new ClipTokenizer(vocab, mergeRanks, padId, maxLength);
    }

    /** The same vocabulary with another context length (bos + content + eos). */
    public ClipTokenizer withMaxLength(int maxLength) {
        return new ClipTokenizer(vocab, mergeRanks, padId, maxLength);
    }

    // ---------------------------------------------------------------- accessors

    public int bosId() {
        return bosId;
    }

    public int eosId() {
        return eosId;
    }

    public int padId() {
        return padId;
    }

    public int maxLength() {
        return maxLength;
    }

    public int vocabSize() {
        return vocab.size();
    }

    // ---------------------------------------------------------------- encoding

    /**
     * Tokenizes a prompt: {@code ids} has exactly {@link #maxLength()} entries (bos, at most
     * maxLength-2 content tokens, eos, padding), {@code untruncatedIds} is bos + all content + eos,
     * {@code truncatedTokens} how many content tokens did not fit.
     */
    public Encoding encode(String text) {
        int[] content = tokenize(text);
        int keep = Math.min(content.length, maxLength - 2);
        int[] ids = new int[maxLength];
        Arrays.fill(ids, padId);
        ids[0] = bosId;
        System.arraycopy(content, 0, ids, 1, keep);
        ids[keep + 1] = eosId;
        int[] full = new int[content.length + 2];
        full[0] = bosId;
        System.arraycopy(content, 0, full, 1, content.length);
        full[full.length - 1] = eosId;
        return new Encoding(ids, full, content.length - keep);
    }

    /**
     * The text of token ids (bos, eos and padding dropped, {@code </w>} word ends as spaces), e.g.
     * to show the user the words a 77-token limit cut off.
     */
    public String decode(int[] ids) {
        Map<Integer, String> inverse = inverseVocab();
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        for (int id : ids) {
            if (id == bosId || id == eosId || id == padId) {
                continue;
            }
            String tok = inverse.get(id);
            if (tok == null) {
                continue;
            }
            for (int i = 0; i < tok.length(); i++) {
                if (tok.startsWith("</w>", i)) {
                    bytes.write(' ');
                    i += 3;
                    continue;
                }
                Integer b = charToByte().get(tok.charAt(i));
                if (b != null) {
                    bytes.write(b);
                }
            }
        }
        return bytes.toString(java.nio.charset.StandardCharsets.UTF_8).trim();
    }

    private volatile Map<Integer, String> inverse;
    private static volatile Map<Character, Integer> byteDecoder;

    private Map<Integer, String> inverseVocab() {
        Map<Integer, String> inv = inverse;
        if (inv == null) {
            inv = new java.util.HashMap<>();
            for (Map.Entry<String, Integer> e : vocab.entrySet()) {
                inv.put(e.getValue(), e.getKey());
            }
            inverse = inv;
        }
        return inv;
    }

    private static Map<Character, Integer> charToByte() {
        Map<Character, Integer> d = byteDecoder;
        if (d == null) {
            d = new java.util.HashMap<>();
            for (int b = 0; b < 256; b++) {
                d.put(BYTE_TO_CHAR[b], b);
            }
            byteDecoder = d;
        }
        return d;
    }

    /** The content token ids of a text, without bos/eos, padding or truncation. */
    public int[] tokenize(String text) {
        List<Integer> out = new ArrayList<>();
        Matcher special = SPECIAL.matcher(text == null ? "" : text);
        int pos = 0;
        String s = text == null ? "" : text;
        while (special.find()) {
            tokenizeSegment(s.substring(pos, special.start()), out);
            out.add(vocab.get(special.group()));
            pos = special.end();
        }
        tokenizeSegment(s.substring(pos), out);
        int[] ids = new int[out.size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = out.get(i);
        }
        return ids;
    }

    private void tokenizeSegment(String segment, List<Integer> out) {
        if (segment.isEmpty()) {
            return;
        }
        String normalized = Normalizer.normalize(segment, Normalizer.Form.NFC);
        normalized = WHITESPACE.matcher(normalized).replaceAll(" ").toLowerCase(Locale.ROOT);
        Matcher m = WORDS.matcher(normalized);
        while (m.find()) {
            for (int id : bpeIds(m.group())) {
                out.add(id);
            }
        }
    }

    private int[] bpeIds(String word) {
        int[] cached = cache.get(word);
        if (cached != null) {
            return cached;
        }
        byte[] utf8 = word.getBytes(StandardCharsets.UTF_8);
        List<String> symbols = new ArrayList<>(utf8.length);
        for (int i = 0; i < utf8.length; i++) {
            String c = String.valueOf(BYTE_TO_CHAR[utf8[i] & 0xff]);
            symbols.add(i == utf8.length - 1 ? c + "</w>" : c);
        }
        while (symbols.size() > 1) {
            int bestRank = Integer.MAX_VALUE;
            String bestA = null;
            String bestB = null;
            for (int i = 0; i + 1 < symbols.size(); i++) {
                Integer rank = mergeRanks.get(symbols.get(i) + " " + symbols.get(i + 1));
                if (rank != null && rank < bestRank) {
                    bestRank = rank;
                    bestA = symbols.get(i);
                    bestB = symbols.get(i + 1);
                }
            }
            if (bestA == null) {
                break;
            }
            List<String> merged = new ArrayList<>(symbols.size());
            for (int i = 0; i < symbols.size(); i++) {
                if (i + 1 < symbols.size() && symbols.get(i).equals(bestA) && symbols.get(i + 1).equals(bestB)) {
                    merged.add(bestA + bestB);
                    i++;
                } else {
                    merged.add(symbols.get(i));
                }
            }
            symbols = merged;
        }
        int[] ids = new int[symbols.size()];
        for (int i = 0; i < ids.length; i++) {
            Integer id = vocab.get(symbols.get(i));
            ids[i] = id == null ? eosId : id; // unk_token is <|endoftext|>
        }
        if (cache.size() < 100_000) {
            cache.put(word, ids);
        }
        return ids;
    }

    /** GPT-2's reversible byte to printable-character table. */
    private static char[] bytesToUnicode() {
        char[] table = new char[256];
        boolean[] direct = new boolean[256];
        for (int b = '!'; b <= '~'; b++) {
            direct[b] = true;
        }
        for (int b = 0xA1; b <= 0xAC; b++) {
            direct[b] = true;
        }
        for (int b = 0xAE; b <= 0xFF; b++) {
            direct[b] = true;
        }
        int n = 0;
        for (int b = 0; b < 256; b++) {
            if (direct[b]) {
                table[b] = (char) b;
            } else {
                table[b] = (char) (256 + n++);
            }
        }
        return table;
    }
}
