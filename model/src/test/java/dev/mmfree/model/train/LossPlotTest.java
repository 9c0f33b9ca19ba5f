package dev.mmfree.model.train;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** loss.csv (rows with and without a validation loss) to a PNG; an empty csv is an error. */
class LossPlotTest {
    @TempDir
    Path dir;

    @Test
    void writesANonEmptyPng() throws IOException {
        Path csv = Files.writeString(dir.resolve("loss.csv"),
                "step,train_loss,val_loss,lr\n100,3.1,3.2,1e-3\n150,2.7,,1e-3\n200,2.4,2.6,5e-4\n");
        Path png = LossPlot.write(csv, dir.resolve("loss.png"));
        byte[] bytes = Files.readAllBytes(png);
        assertTrue(bytes.length > 1000, "png of " + bytes.length + " bytes");
        assertArrayEquals(new byte[]{(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}, Arrays.copyOf(bytes, 8), "PNG signature");
    }

    @Test
    void aCsvWithoutRowsIsAnError() throws IOException {
        Path csv = Files.writeString(dir.resolve("loss.csv"), "step,train_loss,val_loss,lr\n");
        assertThrows(TrainException.class, () -> LossPlot.write(csv, dir.resolve("loss.png")));
    }
}
