package org.tensorflow.lite;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;

/**
 * Test-only stand-in for org.tensorflow.lite.Interpreter with the same method descriptors as
 * tensorflow-lite 2.16.1 (the app is compiled against the real jar and runs against this one).
 * The model is computed by the real LiteRT runtime in a child process ({@link LiteRtBridge}):
 * setUseXNNPACK(false) selects LiteRT's reference kernels, true its default XNNPACK resolver.
 */
public final class Interpreter implements AutoCloseable {

    public static class Options {
        Boolean useXNNPACK;
        int numThreads = -1;
        final List<Delegate> delegates = new ArrayList<>();

        public Options() {}

        public Options setUseXNNPACK(boolean use) {
            useXNNPACK = use;
            return this;
        }

        public Options setNumThreads(int threads) {
            numThreads = threads;
            return this;
        }

        public Options addDelegate(Delegate delegate) {
            delegates.add(delegate);
            return this;
        }
    }

    private final int id;
    private final List<BridgeTensor> inputs = new ArrayList<>();
    private final List<BridgeTensor> outputs = new ArrayList<>();
    private final Map<String, Map<String, BridgeTensor>> signatureInputs = new HashMap<>();
    private final Map<String, Map<String, BridgeTensor>> signatureOutputs = new HashMap<>();
    private final List<String> signatureKeys = new ArrayList<>();
    private boolean closed;

    public Interpreter(ByteBuffer model, Options options) throws JSONException {
        if (!options.delegates.isEmpty()) throw new IllegalArgumentException("the stand-in runs no delegates");
        ByteBuffer m = model.duplicate();
        m.rewind();
        byte[] bytes = new byte[m.remaining()];
        m.get(bytes);
        JSONObject header = new JSONObject();
        header.put("op", "load");
        header.put("xnnpack", options.useXNNPACK == null || options.useXNNPACK);
        header.put("threads", options.numThreads);
        JSONObject d = LiteRtBridge.get().call(header, bytes).header;
        id = d.getInt("id");
        for (int i = 0; i < d.getJSONArray("inputs").length(); i++) inputs.add(new BridgeTensor(d.getJSONArray("inputs").getJSONObject(i)));
        for (int i = 0; i < d.getJSONArray("outputs").length(); i++) outputs.add(new BridgeTensor(d.getJSONArray("outputs").getJSONObject(i)));
        JSONObject sigs = d.getJSONObject("signatures");
        for (java.util.Iterator<String> it = sigs.keys(); it.hasNext(); ) {
            String key = it.next();
            signatureKeys.add(key);
            signatureInputs.put(key, tensors(sigs.getJSONObject(key).getJSONArray("inputs")));
            signatureOutputs.put(key, tensors(sigs.getJSONObject(key).getJSONArray("outputs")));
        }
    }

    private static Map<String, BridgeTensor> tensors(JSONArray list) throws JSONException {
        Map<String, BridgeTensor> map = new HashMap<>();
        for (int i = 0; i < list.length(); i++) {
            BridgeTensor t = new BridgeTensor(list.getJSONObject(i));
            map.put(t.name(), t);
        }
        return map;
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException("Internal error: The Interpreter has already been closed.");
    }

    public String[] getSignatureKeys() {
        return signatureKeys.toArray(new String[0]);
    }

    public int getInputTensorCount() {
        checkOpen();
        return inputs.size();
    }

    public int getOutputTensorCount() {
        checkOpen();
        return outputs.size();
    }

    public Tensor getInputTensor(int i) {
        checkOpen();
        return inputs.get(i);
    }

    public Tensor getOutputTensor(int i) {
        checkOpen();
        return outputs.get(i);
    }

    public Tensor getInputTensorFromSignature(String name, String key) {
        checkOpen();
        Tensor t = signatureInputs.getOrDefault(key, Map.of()).get(name);
        if (t == null) throw new IllegalArgumentException("Input error: input " + name + " not found in signature " + key);
        return t;
    }

    public Tensor getOutputTensorFromSignature(String name, String key) {
        checkOpen();
        Tensor t = signatureOutputs.getOrDefault(key, Map.of()).get(name);
        if (t == null) throw new IllegalArgumentException("Input error: output " + name + " not found in signature " + key);
        return t;
    }

    public void allocateTensors() {
        checkOpen();
    }

    private static byte[] bytesOf(Object value, Tensor t) {
        if (!(value instanceof ByteBuffer)) throw new IllegalArgumentException("the stand-in takes ByteBuffer inputs only");
        ByteBuffer b = ((ByteBuffer) value).duplicate();
        if (b.remaining() != t.numBytes()) {
            throw new IllegalArgumentException("Cannot copy to a TensorFlowLite tensor (" + t.name() + ") with " + t.numBytes()
                + " bytes from a Java Buffer with " + b.remaining() + " bytes.");
        }
        byte[] out = new byte[b.remaining()];
        b.get(out);
        return out;
    }

    private void invoke(String key, List<String> names, List<byte[]> feeds, List<Object> fetchNames, List<Object> fetchBuffers) throws JSONException {
        checkOpen();
        JSONObject header = new JSONObject();
        header.put("op", "run");
        header.put("id", id);
        header.put("signature", key == null ? JSONObject.NULL : key);
        JSONArray in = new JSONArray();
        ByteArrayOutputStream payload = new ByteArrayOutputStream();
        for (int i = 0; i < feeds.size(); i++) {
            in.put(new JSONObject().put("name", names.get(i)).put("bytes", feeds.get(i).length));
            payload.write(feeds.get(i), 0, feeds.get(i).length);
        }
        header.put("inputs", in);
        header.put("outputs", new JSONArray((java.util.Collection<Object>) fetchNames));
        LiteRtBridge.Reply reply = LiteRtBridge.get().call(header, payload.toByteArray());
        JSONArray sizes = reply.header.getJSONArray("sizes");
        int offset = 0;
        for (int i = 0; i < fetchBuffers.size(); i++) {
            int n = sizes.getInt(i);
            Object target = fetchBuffers.get(i);
            if (!(target instanceof ByteBuffer)) throw new IllegalArgumentException("the stand-in fills ByteBuffer outputs only");
            ((ByteBuffer) target).put(reply.payload, offset, n);
            offset += n;
        }
    }

    public void runSignature(Map<String, Object> inputs, Map<String, Object> outputs, String key) throws JSONException {
        Map<String, BridgeTensor> ins = signatureInputs.get(key);
        if (ins == null) throw new IllegalArgumentException("Input error: Signature " + key + " not found.");
        List<String> names = new ArrayList<>();
        List<byte[]> feeds = new ArrayList<>();
        for (Map.Entry<String, Object> e : inputs.entrySet()) {
            BridgeTensor t = ins.get(e.getKey());
            if (t == null) throw new IllegalArgumentException("Input error: input " + e.getKey() + " not found in signature " + key);
            names.add(e.getKey());
            feeds.add(bytesOf(e.getValue(), t));
        }
        List<Object> fetchNames = new ArrayList<>(outputs.keySet());
        List<Object> buffers = new ArrayList<>();
        for (Object name : fetchNames) buffers.add(outputs.get(name));
        invoke(key, names, feeds, fetchNames, buffers);
    }

    public void runForMultipleInputsOutputs(Object[] inputs, Map<Integer, Object> outputs) throws JSONException {
        List<String> names = new ArrayList<>();
        List<byte[]> feeds = new ArrayList<>();
        for (int i = 0; i < inputs.length; i++) {
            names.add(Integer.toString(i));
            feeds.add(bytesOf(inputs[i], this.inputs.get(i)));
        }
        List<Object> fetchNames = new ArrayList<>();
        List<Object> buffers = new ArrayList<>();
        for (Map.Entry<Integer, Object> e : outputs.entrySet()) {
            fetchNames.add(e.getKey());
            buffers.add(e.getValue());
        }
        invoke(null, names, feeds, fetchNames, buffers);
    }

    @Override
    public void close() throws JSONException {
        if (closed) return;
        closed = true;
        JSONObject header = new JSONObject();
        header.put("op", "close");
        header.put("id", id);
        LiteRtBridge.get().call(header, new byte[0]);
    }
}
