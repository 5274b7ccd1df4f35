// Read a message and each dispatch's status: java Status.java <messageId>
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

public class Status {
    public static void main(String[] args) throws Exception {
        String api = System.getenv().getOrDefault("PUSHFLOW_API_URL", "http://127.0.0.1:8080");
        HttpRequest request = HttpRequest.newBuilder(URI.create(api + "/v2.1/push/" + args[0]))
                .header("Authorization", System.getenv("PUSHFLOW_SECRET"))
                .header("Application-Key", System.getenv("PUSHFLOW_APP_KEY"))
                .GET()
                .build();
        HttpResponse<String> response =
                HttpClient.newHttpClient().send(request, HttpResponse.BodyHandlers.ofString());
        System.out.println(response.body());
    }
}
