// Verify a Pushflow webhook (Standard Webhooks, v1 = HMAC-SHA256) with the JDK only.
// The com.standardwebhooks:standardwebhooks library does the same: new Webhook(secret).verify(body, headers)
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Base64;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

public final class VerifyWebhook {
    private static final long TOLERANCE_SECONDS = 300;

    /** Returns normally when one of the signatures matches; throws otherwise. */
    public static void verify(String secret, String msgId, String timestamp, String signatures,
                              String body) throws Exception {
        long age = Math.abs(System.currentTimeMillis() / 1000 - Long.parseLong(timestamp));
        if (age > TOLERANCE_SECONDS) throw new SecurityException("timestamp outside the tolerance");
        byte[] key = Base64.getDecoder().decode(secret.replaceFirst("^whsec_", ""));
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(key, "HmacSHA256"));
        byte[] expected = Base64.getEncoder().encode(
                mac.doFinal((msgId + "." + timestamp + "." + body).getBytes(StandardCharsets.UTF_8)));
        for (String candidate : signatures.split(" ")) {
            String[] parts = candidate.split(",", 2);
            if (parts.length == 2 && parts[0].equals("v1")
                    && MessageDigest.isEqual(expected, parts[1].getBytes(StandardCharsets.US_ASCII))) {
                return;
            }
        }
        throw new SecurityException("no matching signature");
    }

    // java VerifyWebhook.java <secret> <webhook-id> <webhook-timestamp> <webhook-signature> <body>
    public static void main(String[] args) throws Exception {
        verify(args[0], args[1], args[2], args[3], args[4]);
        System.out.println("valid");
    }
}
