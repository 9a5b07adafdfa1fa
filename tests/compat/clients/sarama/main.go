// The matrix scenario for sarama 1.22.1 (Debian golang-github-shopify-sarama-dev), built by
// tests/compat/test_client_matrix.py with GO111MODULE=off and GOPATH=/usr/share/gocode.
//
// Usage: sarama_scenario -version default|2.1.0 STEP BOOTSTRAP ARGS_JSON
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/Shopify/sarama"
)

type stepArgs struct {
	Topic      string           `json:"topic"`
	Partitions int              `json:"partitions"`
	Codec      string           `json:"codec"`
	Tag        string           `json:"tag"`
	Start      int              `json:"start"`
	N          int              `json:"n"`
	Count      int              `json:"count"`
	Group      string           `json:"group"`
	Ends       map[string]int64 `json:"ends"`
}

type result map[string]interface{}

var version = flag.String("version", "default", "sarama Config.Version: default or 2.1.0")

func config() *sarama.Config {
	c := sarama.NewConfig()
	c.ClientID = "matrix-sarama"
	if *version == "2.1.0" {
		c.Version = sarama.V2_1_0_0
	}
	c.Metadata.Retry.Backoff = 100 * time.Millisecond
	c.Consumer.Return.Errors = true
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Group.Session.Timeout = 6 * time.Second
	c.Consumer.Group.Heartbeat.Interval = 300 * time.Millisecond
	c.Consumer.Offsets.CommitInterval = 200 * time.Millisecond
	return c
}

// row is [partition, offset, key, value, [[header, value], ...]].
func row(m *sarama.ConsumerMessage) []interface{} {
	hs := [][]string{}
	for _, h := range m.Headers {
		hs = append(hs, []string{string(h.Key), string(h.Value)})
	}
	return []interface{}{m.Partition, m.Offset, string(m.Key), string(m.Value), hs}
}

var codecs = map[string]sarama.CompressionCodec{
	"none": sarama.CompressionNone, "gzip": sarama.CompressionGZIP,
	"snappy": sarama.CompressionSnappy, "lz4": sarama.CompressionLZ4, "zstd": sarama.CompressionZSTD,
}

func create(bs string, a stepArgs) (result, error) {
	if !config().Version.IsAtLeast(sarama.V0_10_1_0) {
		// CreateTopics needs Version >= 0.10.1 (sarama refuses it before sending); Metadata v0
		// auto-creates the topic with the broker's num.partitions (3 in the matrix).
		client, err := sarama.NewClient([]string{bs}, config())
		if err != nil {
			return nil, err
		}
		defer client.Close()
		if err := client.RefreshMetadata(a.Topic); err != nil {
			return nil, err
		}
		ps, err := client.Partitions(a.Topic)
		if err != nil || len(ps) != a.Partitions {
			return result{"ok": false, "error": fmt.Sprintf("auto-created: %v, %v", ps, err)}, nil
		}
		return result{"ok": true, "detail": "auto-created by Metadata v0"}, nil
	}
	admin, err := sarama.NewClusterAdmin([]string{bs}, config())
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	detail := &sarama.TopicDetail{NumPartitions: int32(a.Partitions), ReplicationFactor: 1}
	if err := admin.CreateTopic(a.Topic, detail, false); err != nil {
		return nil, err
	}
	md, err := admin.DescribeTopics([]string{a.Topic})
	if err != nil {
		return nil, err
	}
	if len(md) != 1 || len(md[0].Partitions) != a.Partitions {
		return result{"ok": false, "error": "describe: wrong partition count"}, nil
	}
	return result{"ok": true}, nil
}

func produce(bs string, a stepArgs, idempotent bool) (result, error) {
	c := config()
	c.Producer.Return.Successes = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Compression = codecs[a.Codec]
	c.Producer.Partitioner = sarama.NewHashPartitioner
	if idempotent {
		if !c.Version.IsAtLeast(sarama.V0_11_0_0) {
			return result{"na": "sarama's idempotent producer needs Version >= 0.11"}, nil
		}
		c.Producer.Idempotent = true
		c.Net.MaxOpenRequests = 1
	}
	if a.Codec == "zstd" && !c.Version.IsAtLeast(sarama.V2_1_0_0) {
		return result{"na": "zstd needs Version >= 2.1"}, nil
	}
	p, err := sarama.NewSyncProducer([]string{bs}, c)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	msgs := []*sarama.ProducerMessage{}
	for i := a.Start; i < a.Start+a.N; i++ {
		m := &sarama.ProducerMessage{
			Topic: a.Topic,
			Key:   sarama.StringEncoder(fmt.Sprintf("key-%d", i%17)),
			Value: sarama.StringEncoder(fmt.Sprintf("%s-%d", a.Tag, i)),
		}
		// Message sets (Version < 0.11) have no headers; sarama refuses them there.
		if c.Version.IsAtLeast(sarama.V0_11_0_0) {
			m.Headers = []sarama.RecordHeader{{Key: []byte("tag"), Value: []byte(a.Tag)},
				{Key: []byte("seq"), Value: []byte(strconv.Itoa(i))}}
		}
		msgs = append(msgs, m)
	}
	if err := p.SendMessages(msgs); err != nil {
		if perrs, ok := err.(sarama.ProducerErrors); ok && len(perrs) > 0 {
			return nil, fmt.Errorf("%d of %d failed, first: %v", len(perrs), len(msgs), perrs[0].Err)
		}
		return nil, err
	}
	return result{"ok": true, "count": len(msgs)}, nil
}

func consume(bs string, a stepArgs) (result, error) {
	c, err := sarama.NewConsumer([]string{bs}, config())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	out := make(chan []interface{}, a.Count+1)
	errs := make(chan error, a.Partitions)
	for p := 0; p < a.Partitions; p++ {
		pc, err := c.ConsumePartition(a.Topic, int32(p), sarama.OffsetOldest)
		if err != nil {
			return nil, err
		}
		defer pc.Close()
		go func() {
			for {
				select {
				case m, ok := <-pc.Messages():
					if !ok {
						return
					}
					out <- row(m)
				case e, ok := <-pc.Errors():
					if ok {
						errs <- e
					}
					return
				}
			}
		}()
	}
	rows := [][]interface{}{}
	timeout := time.After(30 * time.Second)
	for len(rows) < a.Count {
		select {
		case r := <-out:
			rows = append(rows, r)
		case e := <-errs:
			return nil, e
		case <-timeout:
			return result{"ok": true, "records": rows}, nil
		}
	}
	return result{"ok": true, "records": rows}, nil
}

// member is one consumer-group member; its handler tracks assignment, records and positions.
type member struct {
	mu       sync.Mutex
	assigned map[int32]bool
	records  [][]interface{}
	pos      map[int32]int64
	ends     map[int32]int64 // offsets to mark once reached (group step)
	group    sarama.ConsumerGroup
}

func (m *member) Setup(s sarama.ConsumerGroupSession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.assigned = map[int32]bool{}
	for _, ps := range s.Claims() {
		for _, p := range ps {
			m.assigned[p] = true
		}
	}
	return nil
}

func (m *member) Cleanup(sarama.ConsumerGroupSession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.assigned = map[int32]bool{}
	return nil
}

func (m *member) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	// A partition taken over from the other member starts at the offset it committed.
	m.mu.Lock()
	if c.InitialOffset() > m.pos[c.Partition()] {
		m.pos[c.Partition()] = c.InitialOffset()
	}
	m.mu.Unlock()
	for msg := range c.Messages() {
		m.mu.Lock()
		m.records = append(m.records, row(msg))
		if msg.Offset+1 > m.pos[msg.Partition] {
			m.pos[msg.Partition] = msg.Offset + 1
		}
		m.mu.Unlock()
		s.MarkMessage(msg, "")
	}
	return nil
}

func startMember(bs string, a stepArgs, ctx context.Context, wg *sync.WaitGroup) (*member, error) {
	g, err := sarama.NewConsumerGroup([]string{bs}, a.Group, config())
	if err != nil {
		return nil, err
	}
	m := &member{assigned: map[int32]bool{}, pos: map[int32]int64{}, records: [][]interface{}{}, group: g}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if err := g.Consume(ctx, []string{a.Topic}, m); err != nil {
				time.Sleep(100 * time.Millisecond)
			}
		}
	}()
	go func() {
		for range g.Errors() {
		}
	}()
	return m, nil
}

func waitFor(cond func() bool, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

func sortedParts(m *member) []int {
	ps := []int{}
	for p := range m.assigned {
		ps = append(ps, int(p))
	}
	sort.Ints(ps)
	return ps
}

func group(bs string, a stepArgs) (result, error) {
	if !config().Version.IsAtLeast(sarama.V0_10_2_0) {
		return result{"na": "sarama's consumer groups need Version >= 0.10.2"}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	members := []*member{}
	for i := 0; i < 2; i++ {
		m, err := startMember(bs, a, ctx, &wg)
		if err != nil {
			cancel()
			return nil, err
		}
		members = append(members, m)
	}
	done := func() bool {
		all := map[int32]bool{}
		for _, m := range members {
			m.mu.Lock()
			defer m.mu.Unlock()
			if len(m.assigned) == 0 {
				return false
			}
			for p := range m.assigned {
				if all[p] { // held twice: a member has not yet seen the rebalance
					return false
				}
				all[p] = true
				if m.pos[p] < a.Ends[strconv.Itoa(int(p))] {
					return false
				}
			}
		}
		return len(all) == 3
	}
	settled := waitFor(done, 60*time.Second)
	res := []result{}
	for _, m := range members {
		m.mu.Lock()
		res = append(res, result{"assigned": sortedParts(m), "records": m.records})
		m.mu.Unlock()
	}
	// The marked offsets (each member read its partitions to the end) are committed by the
	// offset manager when the session ends and the group closes.
	cancel()
	wg.Wait()
	for _, m := range members {
		m.group.Close()
	}
	if !settled {
		return result{"ok": false, "error": fmt.Sprintf("group did not settle: %v, %v",
			res[0]["assigned"], res[1]["assigned"])}, nil
	}
	return result{"ok": true, "members": res}, nil
}

func resume(bs string, a stepArgs) (result, error) {
	if !config().Version.IsAtLeast(sarama.V0_10_2_0) {
		return result{"na": "sarama's consumer groups need Version >= 0.10.2"}, nil
	}
	a.Codec = "none"
	if r, err := produce(bs, a, false); err != nil || r["ok"] != true {
		return r, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	m, err := startMember(bs, a, ctx, &wg)
	if err != nil {
		cancel()
		return nil, err
	}
	waitFor(func() bool { m.mu.Lock(); defer m.mu.Unlock(); return len(m.records) >= a.N },
		30*time.Second)
	time.Sleep(300 * time.Millisecond)
	cancel()
	wg.Wait()
	m.group.Close()
	return result{"ok": true, "records": m.records}, nil
}

func adminTopics(bs string, a stepArgs) (result, error) {
	if !config().Version.IsAtLeast(sarama.V0_10_1_0) {
		return result{"na": "sarama's CreateTopics needs Version >= 0.10.1"}, nil
	}
	admin, err := sarama.NewClusterAdmin([]string{bs}, config())
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	detail := &sarama.TopicDetail{NumPartitions: int32(a.Partitions), ReplicationFactor: 1}
	if err := admin.CreateTopic(a.Topic, detail, false); err != nil {
		return nil, fmt.Errorf("CreateTopic: %w", err)
	}
	topics, err := admin.ListTopics()
	if err != nil {
		return nil, fmt.Errorf("ListTopics: %w", err)
	}
	if _, ok := topics[a.Topic]; !ok {
		return result{"ok": false, "error": "created topic not listed"}, nil
	}
	md, err := admin.DescribeTopics([]string{a.Topic})
	if err != nil || len(md) != 1 || len(md[0].Partitions) != a.Partitions {
		return result{"ok": false, "error": fmt.Sprintf("DescribeTopics: %v", err)}, nil
	}
	if err := admin.DeleteTopic(a.Topic); err != nil {
		return nil, fmt.Errorf("DeleteTopic: %w", err)
	}
	gone := waitFor(func() bool {
		t, err := admin.ListTopics()
		_, ok := t[a.Topic]
		return err == nil && !ok
	}, 10*time.Second)
	if !gone {
		return result{"ok": false, "error": "deleted topic still listed"}, nil
	}
	return result{"ok": true}, nil
}

func adminGroups(bs string, a stepArgs) (result, error) {
	c := config()
	if !c.Version.IsAtLeast(sarama.V0_10_2_0) {
		return result{"na": "no group was made (consumer groups need Version >= 0.10.2)"}, nil
	}
	admin, err := sarama.NewClusterAdmin([]string{bs}, c)
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	groups, err := admin.ListConsumerGroups()
	if err != nil {
		return nil, fmt.Errorf("ListConsumerGroups: %w", err)
	}
	if groups[a.Group] != "consumer" {
		return result{"ok": false, "error": fmt.Sprintf("ListConsumerGroups: %v", groups)}, nil
	}
	desc, err := admin.DescribeConsumerGroups([]string{a.Group})
	if err != nil {
		return nil, fmt.Errorf("DescribeConsumerGroups: %w", err)
	}
	if len(desc) != 1 || desc[0].State != "Empty" || desc[0].ProtocolType != "consumer" {
		return result{"ok": false, "error": fmt.Sprintf("DescribeConsumerGroups: %+v", desc)}, nil
	}
	// sarama 1.22's ClusterAdmin has no DeleteConsumerGroup; its Broker has DeleteGroups.
	client, err := sarama.NewClient([]string{bs}, c)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	coord, err := client.Coordinator(a.Group)
	if err != nil {
		return nil, fmt.Errorf("Coordinator: %w", err)
	}
	resp, err := coord.DeleteGroups(&sarama.DeleteGroupsRequest{Groups: []string{a.Group}})
	if err != nil {
		return nil, fmt.Errorf("DeleteGroups: %w", err)
	}
	if kerr := resp.GroupErrorCodes[a.Group]; kerr != sarama.ErrNoError {
		return result{"ok": false, "error": fmt.Sprintf("DeleteGroups: %v", kerr)}, nil
	}
	groups, err = admin.ListConsumerGroups()
	if err != nil {
		return nil, err
	}
	if _, ok := groups[a.Group]; ok {
		return result{"ok": false, "error": "deleted group still listed"}, nil
	}
	return result{"ok": true, "detail": "delete through Broker.DeleteGroups"}, nil
}

func main() {
	flag.Parse()
	step, bs := flag.Arg(0), flag.Arg(1)
	var a stepArgs
	var res result
	var err error
	if err = json.Unmarshal([]byte(flag.Arg(2)), &a); err == nil {
		switch step {
		case "create":
			res, err = create(bs, a)
		case "produce":
			res, err = produce(bs, a, false)
		case "consume":
			res, err = consume(bs, a)
		case "group":
			res, err = group(bs, a)
		case "resume":
			res, err = resume(bs, a)
		case "admin_topics":
			res, err = adminTopics(bs, a)
		case "admin_groups":
			res, err = adminGroups(bs, a)
		case "idempotent":
			res, err = produce(bs, a, true)
		default:
			res = result{"na": "no step " + step}
		}
	}
	if err != nil {
		res = result{"ok": false, "error": err.Error()}
	}
	out, _ := json.Marshal(res)
	fmt.Fprintln(os.Stdout, string(out))
}
