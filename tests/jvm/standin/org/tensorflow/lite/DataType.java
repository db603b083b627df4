package org.tensorflow.lite;

/** Test-only stand-in (see tests/jvm/README.md): the element types of org.tensorflow.lite. */
public enum DataType {
    FLOAT32(4, "float32"), INT32(4, "int32"), UINT8(1, "uint8"), INT64(8, "int64"), STRING(-1, "string"),
    BOOL(1, "bool"), INT16(2, "int16"), INT8(1, "int8");

    private final int size;
    final String numpy;

    DataType(int size, String numpy) {
        this.size = size;
        this.numpy = numpy;
    }

    public int byteSize() {
        return size;
    }

    static DataType fromNumpy(String name) {
        for (DataType t : values()) {
            if (t.numpy.equals(name)) return t;
        }
        throw new IllegalArgumentException("DataType: no Java type for numpy dtype " + name);
    }
}
