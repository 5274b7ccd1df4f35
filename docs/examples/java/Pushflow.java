// Send a push and read its status with the JDK only (Java 11+, no dependencies), from any
// directory:
//     java Pushflow.java send <device token>     prints the API's answer (data[0].messageId)
//     java Pushflow.java status <messageId>      prints it with each dispatch's status
// The credentials come from PUSHFLOW_API_URL, PUSHFLOW_APP_KEY and PUSHFLOW_SECRET when set,
// else from the demo.json `make up` writes, found as ../README.md says. Error answers are printed
// readably on stderr (exit 1). In an application, read JSON with Jackson or Gson instead of the
// small reader at the end of this file.
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

public class Pushflow {
    public static void main(String[] args) throws Exception {
        if (args.length != 2 || !(args[0].equals("send") || args[0].equals("status"))) {
            System.err.println("usage: java Pushflow.java send DEVICE_TOKEN | status MESSAGE_ID");
            System.exit(2);
        }
        String answer = args[0].equals("send")
                ? call("POST", "/v2.1/push", "{\"device_tokens\": [" + quote(args[1]) + "],"
                        + " \"title\": \"Your code\", \"content\": \"123456 is your code\","
                        + " \"externalId\": \"example-2fa\"}")
                : call("GET", "/v2.1/push/" + URLEncoder.encode(args[1], StandardCharsets.UTF_8), null);
        System.out.println(answer);
    }

    /** The API's JSON answer; on an error answer, prints its errors on stderr and exits 1. */
    static String call(String method, String path, String body) throws Exception {
        Map<String, Object> demo = demo();
        String api = setting("PUSHFLOW_API_URL", demo, "apiUrl", "http://127.0.0.1:8080");
        String appKey = setting("PUSHFLOW_APP_KEY", demo, "applicationKey", "");
        String secret = setting("PUSHFLOW_SECRET", demo, "secret", "");
        if (appKey.isEmpty() || secret.isEmpty()) {
            System.err.println("No API key: run `make up` (it writes .pushflow/demo.json), or set"
                    + " PUSHFLOW_APP_KEY and PUSHFLOW_SECRET (and PUSHFLOW_API_URL).");
            System.exit(2);
        }
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(api + path))
                .header("Authorization", secret)
                .header("Application-Key", appKey);
        if (body == null) {
            request.GET();
        } else {
            request.header("Content-Type", "application/json")
                    .header("Idempotency-Key", UUID.randomUUID().toString()) // retries send once
                    .method(method, HttpRequest.BodyPublishers.ofString(body));
        }
        HttpResponse<String> response;
        try {
            response = HttpClient.newHttpClient().send(request.build(),
                    HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            System.err.println("Cannot reach the API at " + api + " (" + e + "): is `make up` running?");
            System.exit(1);
            return null;
        }
        if (response.statusCode() / 100 == 2) return response.body();
        report(response.statusCode(), response.body());
        System.exit(1);
        return null;
    }

    @SuppressWarnings("unchecked")
    static void report(int status, String body) {
        Map<String, Object> envelope;
        try {
            envelope = (Map<String, Object>) Json.parse(body);
        } catch (RuntimeException notJson) {
            System.err.println("HTTP " + status + ": " + body.substring(0, Math.min(500, body.length())));
            return;
        }
        for (Object item : (List<Object>) envelope.getOrDefault("errors", List.of())) {
            Map<String, Object> error = (Map<String, Object>) item;
            Object parameter = ((Map<String, Object>) error.getOrDefault("meta", Map.of())).get("parameter");
            System.err.println("HTTP " + status + " " + error.get("code") + ": " + error.get("message")
                    + (parameter != null ? " (parameter " + parameter + ")" : ""));
        }
        System.err.println("request id " + ((Map<String, Object>) envelope.get("meta")).get("uniqId"));
    }

    static String setting(String variable, Map<String, Object> demo, String field, String otherwise) {
        String value = System.getenv(variable);
        if (value != null && !value.isEmpty()) return value;
        Object fromDemo = demo.get(field);
        return fromDemo instanceof String ? (String) fromDemo : otherwise;
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> demo() throws Exception {
        Path file = demoFile();
        if (file == null) return Map.of();
        if (!Files.isRegularFile(file)) {
            System.err.println(file + " does not exist");
            System.exit(2);
        }
        return (Map<String, Object>) Json.parse(Files.readString(file));
    }

    /** PUSHFLOW_DEMO, else PUSHFLOW_DATA_DIR/demo.json, else the nearest .pushflow/demo.json
     *  above the current directory, then above this file. */
    static Path demoFile() throws Exception {
        String named = System.getenv("PUSHFLOW_DEMO");
        if (named != null && !named.isEmpty()) return Paths.get(named);
        String dataDir = System.getenv("PUSHFLOW_DATA_DIR");
        if (dataDir != null && !dataDir.isEmpty()) return Paths.get(dataDir, "demo.json");
        Path here = Paths.get(Pushflow.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        for (Path start : List.of(Paths.get("").toAbsolutePath(), here.toAbsolutePath().getParent())) {
            for (Path dir = start; dir != null; dir = dir.getParent()) {
                Path candidate = dir.resolve(".pushflow").resolve("demo.json");
                if (Files.isRegularFile(candidate)) return candidate;
            }
        }
        return null;
    }

    static String quote(String text) {
        return "\"" + text.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    /** Just enough JSON to read demo.json and the API's envelope: objects, arrays, strings,
     *  numbers (as Double), true, false, null. */
    static final class Json {
        private final String text;
        private int at;

        private Json(String text) { this.text = text; }

        static Object parse(String text) {
            Json json = new Json(text);
            Object value = json.value();
            json.space();
            if (json.at != text.length()) throw json.error();
            return value;
        }

        private Object value() {
            space();
            if (at >= text.length()) throw error();
            char c = text.charAt(at);
            if (c == '{') {
                Map<String, Object> object = new LinkedHashMap<>();
                at++;
                if (next('}')) return object;
                do {
                    space();
                    String key = string();
                    if (!next(':')) throw error();
                    object.put(key, value());
                } while (next(','));
                if (!next('}')) throw error();
                return object;
            }
            if (c == '[') {
                List<Object> array = new ArrayList<>();
                at++;
                if (next(']')) return array;
                do array.add(value()); while (next(','));
                if (!next(']')) throw error();
                return array;
            }
            if (c == '"') return string();
            for (String word : new String[] {"true", "false", "null"}) {
                if (text.startsWith(word, at)) {
                    at += word.length();
                    return word.equals("null") ? null : Boolean.valueOf(word);
                }
            }
            int start = at;
            while (at < text.length() && "+-0123456789.eE".indexOf(text.charAt(at)) >= 0) at++;
            if (start == at) throw error();
            return Double.valueOf(text.substring(start, at));
        }

        private String string() {
            if (at >= text.length() || text.charAt(at) != '"') throw error();
            StringBuilder out = new StringBuilder();
            for (at++; at < text.length(); at++) {
                char c = text.charAt(at);
                if (c == '"') { at++; return out.toString(); }
                if (c != '\\') { out.append(c); continue; }
                char e = text.charAt(++at);
                switch (e) {
                    case 'n': out.append('\n'); break;
                    case 't': out.append('\t'); break;
                    case 'r': out.append('\r'); break;
                    case 'b': out.append('\b'); break;
                    case 'f': out.append('\f'); break;
                    case 'u': out.append((char) Integer.parseInt(text.substring(at + 1, at + 5), 16)); at += 4; break;
                    default: out.append(e);
                }
            }
            throw error();
        }

        private boolean next(char c) {
            space();
            if (at < text.length() && text.charAt(at) == c) { at++; return true; }
            return false;
        }

        private void space() {
            while (at < text.length() && Character.isWhitespace(text.charAt(at))) at++;
        }

        private IllegalArgumentException error() {
            return new IllegalArgumentException("not JSON at character " + at);
        }
    }
}
