// Prints the broker and topic property names of the Kafka jars on the class path,
// for src/spec/kafka-{broker,topic}-properties.txt:
//   java -cp "$HOME/.cache/kafka-chaos/kafka-4.3.1/libs/*" scripts/dev/KafkaPropertyNames.java
import java.util.TreeSet;

public class KafkaPropertyNames {
  public static void main(String[] args) {
    TreeSet<String> broker = new TreeSet<>(
        scala.jdk.javaapi.CollectionConverters.asJava(kafka.server.KafkaConfig.configNames()));
    System.out.println("# broker " + broker.size());
    broker.forEach(System.out::println);
    TreeSet<String> topic =
        new TreeSet<>(org.apache.kafka.storage.internals.log.LogConfig.configNames());
    System.out.println("# topic " + topic.size());
    topic.forEach(System.out::println);
  }
}
