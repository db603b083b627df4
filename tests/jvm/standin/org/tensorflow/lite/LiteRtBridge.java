package org.tensorflow.lite;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.json.JSONException;
import org.json.JSONObject;

/**
 * The missing native bridge, replaced: instead of JNI into libtensorflowlite_jni.so (an Android
 * library that cannot load on this host) the stand-in sends tensors to a child process running the
 * real LiteRT runtime (ai-edge-litert, tests/jvm/litert_bridge.py).  Messages both ways:
 * [int32 header length][UTF-8 JSON header][payload of header.payload bytes].
 * The child's command line is the system property mobilepack.litert.bridge (space separated).
 */
final class LiteRtBridge {
    private static LiteRtBridge instance;
    private final Process process;
    private final DataOutputStream out;
    private final DataInputStream in;

    static final class Reply {
        final JSONObject header;
        final byte[] payload;

        Reply(JSONObject header, byte[] payload) {
            this.header = header;
            this.payload = payload;
        }
    }

    private LiteRtBridge() throws IOException {
        String command = System.getProperty("mobilepack.litert.bridge");
        if (command == null) throw new IllegalStateException("set -Dmobilepack.litert.bridge to the LiteRT bridge command");
        process = new ProcessBuilder(command.split(" ")).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        out = new DataOutputStream(process.getOutputStream());
        in = new DataInputStream(process.getInputStream());
    }

    static synchronized LiteRtBridge get() {
        if (instance == null) {
            try {
                instance = new LiteRtBridge();
            } catch (IOException e) {
                throw new IllegalStateException("cannot start the LiteRT bridge: " + e.getMessage(), e);
            }
        }
        return instance;
    }

    synchronized Reply call(JSONObject header, byte[] payload) {
        try {
            header.put("payload", payload.length);
            byte[] h = header.toString().getBytes(StandardCharsets.UTF_8);
            out.writeInt(h.length);
            out.write(h);
            out.write(payload);
            out.flush();
            byte[] rh = new byte[in.readInt()];
            in.readFully(rh);
            JSONObject reply = new JSONObject(new String(rh, StandardCharsets.UTF_8));
            byte[] rp = new byte[reply.optInt("payload", 0)];
            in.readFully(rp);
            if (reply.has("error")) throw new IllegalArgumentException(reply.getString("error"));
            return new Reply(reply, rp);
        } catch (JSONException e) {
            throw new IllegalStateException("LiteRT bridge: bad message: " + e.getMessage(), e);
        } catch (IOException e) {
            throw new IllegalStateException("LiteRT bridge failed: " + e.getMessage(), e);
        }
    }
}
