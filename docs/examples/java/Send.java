// Send a transactional push (Java 11+, no dependencies): java Send.java <device token>
// Credentials from PUSHFLOW_API_URL, PUSHFLOW_APP_KEY, PUSHFLOW_SECRET.
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.UUID;

public class Send {
    public static void main(String[] args) throws Exception {
        String api = System.getenv().getOrDefault("PUSHFLOW_API_URL", "http://127.0.0.1:8080");
        String body = "{\"device_tokens\": [\"" + args[0] + "\"], \"title\": \"Your code\","
                + " \"content\": \"123456 is your code\", \"externalId\": \"example-2fa\"}";
        HttpRequest request = HttpRequest.newBuilder(URI.create(api + "/v2.1/push"))
                .header("Authorization", System.getenv("PUSHFLOW_SECRET"))
                .header("Application-Key", System.getenv("PUSHFLOW_APP_KEY"))
                .header("Content-Type", "application/json")
                .header("Idempotency-Key", UUID.randomUUID().toString()) // retries send once
                .POST(HttpRequest.BodyPublishers.ofString(body))
                .build();
        HttpResponse<String> response =
                HttpClient.newHttpClient().send(request, HttpResponse.BodyHandlers.ofString());
        System.out.println(response.statusCode() + " " + response.body());
        if (response.statusCode() != 202) System.exit(1);
    }
}
