package __PACKAGE__

// Test-only (tests/test_android_jvm.py): copied into a rendered Android project and compiled with
// it, then run on a JVM.  It drives the app's own code - ImageInput, PhotoDecoder.orientation (the platform ExifInterface), TensorCodec, Tokenizer,
// ModelRunner, Results, AudioCapture, InferenceQueue - for every sample of a job file (and, for the
// embedding app, Results.cosine over the job's pairs of samples) and writes what the app computed as JSON.  Only image decoding is the JVM's (javax.imageio; BitmapFactory on
// a device): everything after the decoded ARGB pixels is the app's.

import java.io.ByteArrayInputStream
import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.util.Base64
import javax.imageio.ImageIO
import org.json.JSONArray
import org.json.JSONObject

object AppProbe {
    private fun b64(buffer: ByteBuffer): String {
        val b = buffer.duplicate()
        b.rewind()
        return Base64.getEncoder().encodeToString(ByteArray(b.remaining()).also { b.get(it) })
    }

    private fun floats(values: FloatArray): JSONArray = JSONArray().apply { values.forEach { put(it.toDouble()) } }

    private fun decodeImage(bytes: ByteArray): ArgbImage {
        val image = ImageIO.read(ByteArrayInputStream(bytes)) ?: throw IllegalArgumentException("not an image")
        val gray = image.colorModel.colorSpace.type == java.awt.color.ColorSpace.TYPE_GRAY && !image.colorModel.hasAlpha()
        val pixels = if (gray) {
            // getRGB would convert linear gray to sRGB; BitmapFactory (like Pillow) replicates the stored value.
            val raster = image.raster
            val shift = image.colorModel.getComponentSize(0) - 8
            IntArray(image.width * image.height) { i ->
                val g = raster.getSample(i % image.width, i / image.width, 0) shr shift
                (0xFF shl 24) or (g shl 16) or (g shl 8) or g
            }
        } else {
            image.getRGB(0, 0, image.width, image.height, null, 0, image.width)
        }
        return ArgbImage(image.width, image.height, pixels)
    }

    private fun inputsFor(sample: JSONObject): Pair<Array<ByteBuffer>, JSONObject> {
        val extra = JSONObject()
        val inputs = when (sample.getString("kind")) {
            "image" -> {
                val bytes = File(sample.getString("path")).readBytes()
                val orientation = PhotoDecoder.orientation { ByteArrayInputStream(bytes) }
                extra.put("orientation", orientation)
                val image = decodeImage(bytes)
                // the same pixels in bands of 3 rows (a 48 MP photo's bands, scaled down): the sums must not change
                val whole = ImageInput.modelPixels(image, orientation, ModelConfig.IMAGE_WIDTH, ModelConfig.IMAGE_HEIGHT, ModelConfig.IMAGE_CHANNELS)
                val banded = ImageInput.modelPixels(image, orientation, ModelConfig.IMAGE_WIDTH, ModelConfig.IMAGE_HEIGHT, ModelConfig.IMAGE_CHANNELS, 3 * image.width)
                extra.put("bands_agree", whole.contentEquals(banded))
                TensorCodec.fromImage(image, orientation)
            }
            "text" -> {
                val text = sample.getString("text")
                if (Tokenizer.KIND == "bert") {
                    val e = Tokenizer.encode(text)
                    extra.put("wordpiece", JSONObject().put("ids", JSONArray(e.ids.toList()))
                        .put("mask", JSONArray(e.mask.toList())).put("segment_ids", JSONArray(e.segmentIds.toList())))
                } else {
                    val ids = Tokenizer.tokenize(text)
                    val length = ModelConfig.INPUTS[0].elements
                    extra.put("ids_post", JSONArray(Tokenizer.pad(ids, length, "post").toList()))
                    extra.put("ids_pre", JSONArray(Tokenizer.pad(ids, length, "pre").toList()))
                }
                TensorCodec.fromText(text)
            }
            "tokens" -> {
                // fixed BERT inputs (no tokenizer): the app's TensorCodec puts each at the input it belongs to
                fun ints(key: String) = sample.getJSONArray(key).let { a -> IntArray(a.length()) { a.getInt(it) } }
                TensorCodec.fromBert(ints("ids"), ints("mask"), ints("segment_ids"))
            }
            "audio" -> {
                val raw = ByteBuffer.wrap(File(sample.getString("path")).readBytes()).order(ByteOrder.LITTLE_ENDIAN)
                val pcm = ShortArray(raw.remaining() / 2) { raw.getShort() }
                TensorCodec.fromAudio(TensorCodec.pcmToFloat(pcm))
            }
            else -> TensorCodec.benchInputs()
        }
        return Pair(inputs, extra)
    }

    private fun decoded(outputs: List<FloatArray>, labels: List<String>, width: Int, height: Int): JSONObject = JSONObject().apply {
        when (ModelConfig.OUTPUT_KIND) {
            "classification" -> put("top", JSONArray(Results.topK(outputs[0], labels).map { JSONArray(listOf(it.label, it.score.toDouble())) }))
            "detection" -> put("detections", JSONArray((if (ModelConfig.YOLO_LAYOUT.isNotEmpty()) Results.yoloDetections(outputs, labels, width, height)
                else Results.detections(outputs, labels, width, height)).map { d ->
                JSONArray(listOf(d.label, d.score.toDouble(), d.box.left.toDouble(), d.box.top.toDouble(), d.box.right.toDouble(), d.box.bottom.toDouble()))
            }))
            "segmentation" -> put("classes", JSONArray(Results.classMap(outputs[0], ModelConfig.OUTPUTS[0]).toList()))
            // __KEYPOINTS__ (execution.add_probe puts the keypoints branch here in a keypoints project only)
            "image" -> put("pixels", JSONArray(Results.outputPixels(outputs[0]).toList()))
            else -> put("values", JSONArray(outputs.map { floats(it) }))
        }
    }

    /** The defects a JVM can show: microphone failures, work after onDestroy, GPU status parsing. */
    private fun defects(): JSONObject {
        val out = JSONObject()
        class FakeMic(override val initialized: Boolean, private val starts: Boolean, private val readResult: Int) : PcmSource {
            var released = false
            private var started = false
            override val recording: Boolean get() = started
            override fun start() {
                if (!initialized) throw IllegalStateException("startRecording() called on an uninitialized AudioRecord.")
                started = starts
            }
            override fun read(buffer: ShortArray, offset: Int, count: Int): Int = if (readResult > 0) minOf(count, readResult) else readResult
            override fun stop() {
                if (!started) throw IllegalStateException("stop() called on an uninitialized AudioRecord.")
            }
            override fun release() {
                released = true
            }
        }
        val mics = mapOf("uninitialized" to FakeMic(false, false, 0), "busy" to FakeMic(true, false, 0),
            "read_error" to FakeMic(true, true, -3), "silent" to FakeMic(true, true, 0), "working" to FakeMic(true, true, 400))
        val audio = JSONObject()
        for ((name, mic) in mics) {
            val result = JSONObject()
            try {
                result.put("samples", AudioCapture.record(mic, 1000).size)
            } catch (e: AudioUnavailableException) {
                result.put("message", e.message)
            } catch (e: Exception) {
                result.put("crash", e.javaClass.name + ": " + e.message)
            }
            result.put("released", mic.released)
            audio.put(name, result)
        }
        out.put("audio", audio)

        val queue = InferenceQueue()
        val ran = java.util.concurrent.CountDownLatch(1)
        val accepted = queue.submit { ran.countDown() }
        ran.await()
        var closedRan = false
        val done = java.util.concurrent.CountDownLatch(1)
        queue.close { closedRan = true; done.countDown() }
        done.await()
        val after = JSONObject()
        after.put("accepted_before", accepted)
        after.put("close_ran", closedRan)
        try {
            after.put("accepted_after", queue.submit { throw IllegalStateException("ran after onDestroy") })
        } catch (e: Exception) {
            after.put("crash", e.javaClass.name)
        }
        out.put("queue", after)

        val gpu = JSONObject()
        val choice = DelegateChoice(Accelerator.GPU, 1)
        val logs = JSONObject(File(System.getProperty("mobilepack.gpu.logs")).readText())
        for (name in logs.keys()) {
            val lines = logs.getJSONArray(name)
            val status = ModelRunner.gpuStatus(choice, Result.success(List(lines.length()) { lines.getString(it) }))
            gpu.put(name, JSONObject().put("fully_delegated", status.fullyDelegated ?: JSONObject.NULL).put("label", status.label))
        }
        out.put("gpu", gpu)
        return out
    }

    /** A photo-sized image whose pixels are computed, not stored: the source allocates nothing. */
    private class SyntheticPhoto(override val width: Int, override val height: Int) : PixelBands {
        override fun read(top: Int, rows: Int, into: IntArray) {
            for (r in 0 until rows) {
                val y = top + r
                for (x in 0 until width) into[r * width + x] = (0xFF shl 24) or ((x * 255 / width) shl 16) or ((y * 255 / height) shl 8) or ((x + 3 * y) and 0xFF)
            }
        }
    }

    /**
     * Bytes allocated on this thread (ThreadMXBean, heap only) by the app's decode-to-tensor code
     * for photos of the job's sizes, EXIF orientation 6 (a phone held upright): TensorCodec.fromImage
     * with the app's model input, and ImageInput.modelPixels for a 224 x 224 x 3 input.
     */
    private fun memory(sizes: JSONArray): JSONArray {
        val mx = java.lang.management.ManagementFactory.getThreadMXBean() as com.sun.management.ThreadMXBean
        fun allocated(block: () -> Unit): Long {
            val before = mx.currentThreadAllocatedBytes
            block()
            return mx.currentThreadAllocatedBytes - before
        }
        TensorCodec.fromImage(SyntheticPhoto(640, 480), 6)       // loads the classes first
        ImageInput.modelPixels(SyntheticPhoto(640, 480), 6, 224, 224, 3)
        return JSONArray((0 until sizes.length()).map { i ->
            val size = sizes.getJSONArray(i)
            val photo = SyntheticPhoto(size.getInt(0), size.getInt(1))
            JSONObject().put("width", photo.width).put("height", photo.height)
                .put("app_input_bytes", allocated { TensorCodec.fromImage(photo, 6) })
                .put("input_224_bytes", allocated { ImageInput.modelPixels(photo, 6, 224, 224, 3) })
        })
    }

    @JvmStatic
    fun main(args: Array<String>) {
        val job = JSONObject(File(args[0]).readText())
        val model = File(job.getString("model")).readBytes()
        val labels = File(job.getString("labels")).let { if (it.isFile) it.readLines(Charsets.UTF_8) else emptyList() }
        if (job.has("vocab")) File(job.getString("vocab")).inputStream().use { Tokenizer.load(it) }
        val buffer = ByteBuffer.allocateDirect(model.size).order(ByteOrder.nativeOrder())
        buffer.put(model)
        buffer.rewind()
        val report = JSONObject()
        val samples = job.getJSONArray("samples")
        ModelRunner.open(buffer, DelegateChoice(Accelerator.CPU, 1)).use { runner ->
            val results = JSONArray()
            val firstOutputs = ArrayList<FloatArray>()
            for (s in 0 until samples.length()) {
                val sample = samples.getJSONObject(s)
                val (inputs, extra) = inputsFor(sample)
                val result = runner.run(inputs)
                firstOutputs.add(result.outputs[0])
                extra.put("inputs", JSONArray(inputs.map { b64(it) }))
                extra.put("outputs", JSONArray(ModelConfig.OUTPUTS.indices.map { Base64.getEncoder().encodeToString(runner.outputBytes(it)) }))
                extra.put("decoded", decoded(result.outputs, labels, sample.optInt("width", 1), sample.optInt("height", 1)))
                results.put(extra)
            }
            report.put("samples", results)
            // The embedding app's comparison of two sentences: Results.cosine over pairs of samples.
            val pairs = job.optJSONArray("pairs") ?: JSONArray()
            report.put("similarities", JSONArray((0 until pairs.length()).map { p ->
                val pair = pairs.getJSONArray(p)
                Results.cosine(firstOutputs[pair.getInt(0)], firstOutputs[pair.getInt(1)]).toDouble()
            }))
            if (pairs.length() > 0) report.put("similarity_line", Results.similarity(firstOutputs[0], firstOutputs[1]))
            // The benchmark's input and one timed iteration of it.
            val bench = TensorCodec.benchInputs()
            runner.bind(bench)
            val micros = runner.timedIteration()
            report.put("bench", JSONObject().put("inputs", JSONArray(bench.map { b64(it) })).put("first_us", micros)
                .put("outputs", JSONArray(ModelConfig.OUTPUTS.indices.map { Base64.getEncoder().encodeToString(runner.outputBytes(it)) })))
        }
        val gpuRequest = JSONObject()
        try {
            ModelRunner.open(buffer, DelegateChoice(Accelerator.GPU, 1)).close()
            gpuRequest.put("opened", true)
        } catch (e: DelegateUnavailableException) {
            gpuRequest.put("unavailable", e.message)
        }
        report.put("gpu_request", gpuRequest)
        if (job.optBoolean("defects")) report.put("defects", defects())
        job.optJSONArray("orientations")?.let { paths ->
            report.put("orientations", JSONObject().apply {
                for (i in 0 until paths.length()) {
                    val bytes = File(paths.getString(i)).readBytes()
                    put(File(paths.getString(i)).name, PhotoDecoder.orientation { ByteArrayInputStream(bytes) })
                }
            })
        }
        job.optJSONArray("memory")?.let { report.put("memory", memory(it)) }
        File(args[1]).writeText(report.toString())
    }
}
