package org.tensorflow.lite;

import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;

/** A tensor as the LiteRT bridge described it (name, shape, dtype, bytes). */
final class BridgeTensor implements Tensor {
    private final String name;
    private final int[] shape;
    private final DataType type;
    private final int bytes;

    BridgeTensor(JSONObject d) throws JSONException {
        name = d.getString("name");
        JSONArray s = d.getJSONArray("shape");
        shape = new int[s.length()];
        for (int i = 0; i < shape.length; i++) shape[i] = s.getInt(i);
        type = DataType.fromNumpy(d.getString("dtype"));
        bytes = d.getInt("bytes");
    }

    @Override public DataType dataType() { return type; }
    @Override public int numDimensions() { return shape.length; }
    @Override public int numBytes() { return bytes; }
    @Override public int numElements() {
        int n = 1;
        for (int d : shape) n *= d;
        return n;
    }
    @Override public int[] shape() { return shape.clone(); }
    @Override public String name() { return name; }
}
